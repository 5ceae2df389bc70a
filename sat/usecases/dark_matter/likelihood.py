"""The binned likelihood of a dark-matter template: best fit, error, upper limit."""

from __future__ import annotations

from sat.usecases.dark_matter.config import THERMAL_SIGMA_V


class _Likelihood:
    """The binned likelihood of one dark-matter template and the IRF background.

    A small `MapDataset` (counts, background, fit mask) with two models:
    `TemplateNPredModel` (the dark-matter counts; its ``norm`` is <sigma v> in
    units of 3e-26 cm3 s-1) and `FoVBackgroundModel` (normalisation free).
    """

    def __init__(self, dataset, roi, z: float):
        import numpy as np
        from gammapy.datasets import MapDataset
        from gammapy.maps import Map

        geom = dataset.counts.geom
        mask = Map.from_geom(geom, data=np.broadcast_to(roi, geom.data_shape).copy())
        self.background = dataset.background.copy()
        self.dataset = MapDataset(
            counts=self.background.copy(),
            background=self.background.copy(),
            mask_fit=mask,
            name="fit",
        )
        self.z = z

    def asimov(self):
        """Return the counts of a background-only observation without noise."""
        return self.background.copy()

    def simulate(self, sky, norm: float, seed: int):
        """Poisson counts of the background and ``norm`` x the sky's dark matter."""
        from gammapy.datasets import MapDataset
        from gammapy.modeling.models import FoVBackgroundModel, TemplateNPredModel

        truth = MapDataset(
            counts=self.background.copy(), background=self.background, name="sky"
        )
        signal = TemplateNPredModel(sky, datasets_names=["sky"])
        signal.spectral_model.norm.value = norm
        truth.models = [signal, FoVBackgroundModel(dataset_name="sky")]
        truth.fake(random_state=seed)
        return truth.counts

    def limit(self, template, counts) -> dict:
        """Fit ``template`` to ``counts``: best <sigma v>, error and upper limit.

        All in units of 3e-26 cm3 s-1. The limit is the profile-likelihood one
        of `Fit.confidence` at ``z`` sigma (one-sided), the background
        normalisation re-optimised at every step.
        """
        from gammapy.modeling import Fit
        from gammapy.modeling.models import FoVBackgroundModel, TemplateNPredModel

        dataset = self.dataset
        dataset.counts = counts
        signal = TemplateNPredModel(
            template, datasets_names=["fit"], name="dark-matter"
        )
        signal.spectral_model.tilt.frozen = True
        norm = signal.spectral_model.norm
        norm.value = 0.0
        norm.min = float("nan")  # negative best fits are allowed (see the package doc)
        dataset.models = [signal, FoVBackgroundModel(dataset_name="fit")]
        fit = Fit()
        result = fit.run(dataset)
        best, error = float(norm.value), float(norm.error)
        confidence = fit.confidence(dataset, norm, sigma=self.z)
        dataset.models = None
        return {
            "sigma_v": best,
            "sigma_v_error": error,
            "sigma_v_ul": best + float(confidence["errp"]),
            "success": bool(result.success and confidence["success"]),
        }


def _limit_row(mass: float, expected: dict, measured: dict) -> dict:
    """One row of limits.ecsv, in cm3 s-1: the expected band and the observed limit.

    For a Gaussian likelihood, the limits of background-only observations are
    the Asimov limit +- k sigma (Cowan et al. 2011, EPJC 71, 1554, eq. 89).
    """
    scale = THERMAL_SIGMA_V
    median, sigma = expected["sigma_v_ul"], expected["sigma_v_error"]
    observed = measured["sigma_v_ul"]
    return {
        "mass_tev": mass,
        "expected_ul": median * scale,
        "expected_minus_2sigma": (median - 2 * sigma) * scale,
        "expected_minus_1sigma": (median - sigma) * scale,
        "expected_plus_1sigma": (median + sigma) * scale,
        "expected_plus_2sigma": (median + 2 * sigma) * scale,
        "observed_best": measured["sigma_v"] * scale,
        "observed_error": measured["sigma_v_error"] * scale,
        "observed_ul": observed * scale,
        # Power-constrained: never below the -1 sigma edge of the expected band.
        "observed_ul_pcl": max(observed, median - sigma) * scale,
        "success": expected["success"] and measured["success"],
    }
