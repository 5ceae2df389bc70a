"""ON/OFF spectra of a point source simulated from a CTAO IRF, at the dataset level.

For each observation interval Gammapy's `SpectrumDatasetMaker` computes the
exposure (with the PSF containment of the ON region), the energy dispersion and
the IRF background in the ON region; `SpectrumDatasetOnOff.from_spectrum_dataset`
adds ``n_off_regions`` OFF regions of the same acceptance (as reflected regions
give), and `SpectrumDatasetOnOff.fake` draws Poisson ON and OFF counts from the
source model and that background. The model may carry a temporal model: Gammapy
integrates it over each interval's good time interval.

This is Gammapy's own way to simulate spectra ("spectrum simulation" and "light
curve simulation" tutorials): no event list, so a pull test can afford hundreds
of seeds. It tests the spectral and temporal modelling through the IRFs (energy
dispersion included); the event-level chain (sampling, DL3 files, reflected
regions) is what ``ctao-simulate`` tests.

Like every module of `sat.usecases`, this one imports Gammapy inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OnOffSimulation", "prepare"]


@dataclass
class OnOffSimulation:
    """Empty ON/OFF spectra, one per interval, and their expected background.

    Attributes
    ----------
    templates : `~gammapy.datasets.Datasets`
        IRF-reduced `SpectrumDatasetOnOff` of each interval; `fake` fills their
        counts.
    backgrounds : list of `~gammapy.maps.RegionNDMap`
        Expected background counts in the ON region of each interval.
    """

    templates: object
    backgrounds: list
    _sky: list | None = None

    def fake(self, models, seed: int):
        """Draw the ON and OFF counts of every interval for ``models``.

        The counts are drawn into the templates themselves (Gammapy's
        `SpectrumDatasetOnOff.fake`): the models are attached once, so their
        predicted counts are computed once for all seeds, and the next call
        overwrites the counts. Copy a dataset to keep it or to fit it.

        Parameters
        ----------
        models : list of `~gammapy.modeling.models.SkyModel`
            The simulated sky (the background is the IRF's).
        seed : int
            One random generator per seed serves all intervals in turn: the same
            seed gives the same counts.

        Returns
        -------
        `~gammapy.datasets.Datasets`
            The templates, with the drawn counts.
        """
        import numpy as np

        if self._sky is not models:
            self.templates.models = models
            self._sky = models
        generator = np.random.RandomState(seed)
        for template, background in zip(self.templates, self.backgrounds, strict=True):
            template.fake(npred_background=background, random_state=generator)
        return self.templates

    def asimov(self, models):
        """Return copies of the spectra with their expected counts (no fluctuations).

        ON counts are the expected signal plus background, OFF counts the expected
        background over the OFF acceptance; fits to them give the parameters the
        seeds scatter around (an "Asimov" data set).
        """
        from gammapy.datasets import Datasets

        datasets = Datasets()
        for template, background in zip(self.templates, self.backgrounds, strict=True):
            dataset = template.copy(name=f"{template.name}-expected")
            dataset.models = models
            dataset.counts = dataset.npred_signal() + background
            dataset.counts_off = background / dataset.alpha
            dataset.models = None
            datasets.append(dataset)
        return datasets


def prepare(
    irf: str,
    source,
    offset_deg: float,
    on_radius_deg: float,
    energy_axis,
    energy_axis_true,
    intervals,
    n_off_regions: int,
    reference_time,
) -> OnOffSimulation:
    """Reduce the IRF into empty ON/OFF spectra, one per observation interval.

    Parameters
    ----------
    irf : str
        A CTAO IRF name (`sat.irf.known_irfs`); its site gives the location.
    source : `~astropy.coordinates.SkyCoord`
        The point source (centre of the ON region).
    offset_deg : float
        Offset of the pointing from the source (north of it), as in wobble mode.
    on_radius_deg : float
        Radius of the ON region.
    energy_axis, energy_axis_true : `~gammapy.maps.MapAxis`
        Reconstructed and true energy axes.
    intervals : list of tuple
        ``(start, livetime)`` of each interval: `~astropy.time.Time` and
        `~astropy.units.Quantity`.
    n_off_regions : int
        OFF regions of the ON region's acceptance (alpha = 1 / n_off_regions).
    reference_time : `~astropy.time.Time`
        Reference of the datasets' times (T0 of a transient).
    """
    import astropy.units as u
    from gammapy.data import FixedPointingInfo, Observation
    from gammapy.datasets import Datasets, SpectrumDataset, SpectrumDatasetOnOff
    from gammapy.makers import SpectrumDatasetMaker
    from gammapy.maps import RegionGeom
    from regions import CircleSkyRegion

    from sat.irf import irf_info, load_irf
    from sat.sites import get_site

    irfs = load_irf(irf)
    location = get_site(irf_info(irf).site)
    maker = SpectrumDatasetMaker(
        selection=["exposure", "edisp", "background"], containment_correction=True
    )
    # The maker fills the IRF background's empty bins by interpolation on every
    # call (about a second each); done once here, in place, each interval is cheap.
    irfs["bkg"].interp_missing_data(axis_name="energy")
    maker.background_interp_missing_data = False
    pointing = FixedPointingInfo(
        fixed_icrs=source.directional_offset_by(0 * u.deg, offset_deg * u.deg).icrs
    )
    geom = RegionGeom.create(
        CircleSkyRegion(source, on_radius_deg * u.deg), axes=[energy_axis]
    )
    templates, backgrounds = Datasets(), []
    for index, (start, livetime) in enumerate(intervals):
        observation = Observation.create(
            pointing=pointing,
            location=location,
            obs_id=index + 1,
            livetime=livetime,
            tstart=start,
            irfs=irfs,
            reference_time=reference_time,
        )
        empty = SpectrumDataset.create(
            geom, energy_axis_true=energy_axis_true, name=f"interval-{index + 1}"
        )
        dataset = maker.run(empty, observation)
        backgrounds.append(dataset.npred_background())
        templates.append(
            SpectrumDatasetOnOff.from_spectrum_dataset(
                dataset=dataset, acceptance=1, acceptance_off=n_off_regions
            )
        )
    return OnOffSimulation(templates, backgrounds)
