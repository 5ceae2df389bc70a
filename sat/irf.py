"""The public CTAO instrument response functions, by name.

The prod5 v0.1 IRFs of the Alpha configuration (CTAO & CTA Consortium 2021,
doi:10.5281/zenodo.5499840, CC BY 4.0) and the legacy first-data-challenge (1DC)
South IRF, as installed under ``GAMMAPY_DATA``. `load_irf` returns Gammapy's IRF
objects; `irf_summary` gives the numbers ``ctao-sat irf show`` prints;
`plot_irf` draws them (`sat.irf_plots`).

Examples
--------
>>> from sat.irf import irf_summary, known_irfs, load_irf
>>> list(known_irfs())
['prod5-south-z20-50h', 'prod5-north-z20-50h', '1dc-south-z20-50h']
>>> irfs = load_irf("prod5-north-z20-50h")  # Gammapy's IRF objects
>>> sorted(irfs)
['aeff', 'bkg', 'edisp', 'psf']
>>> area = irfs["aeff"].evaluate(energy_true="1 TeV", offset="0.5 deg")
>>> print(f"{area.to_value('m2'):.3g} m2")
4.22e+05 m2
>>> summary = irf_summary("prod5-north-z20-50h", energy_tev=1.0, offset_deg=0.5)
>>> print(f"PSF 68 % radius at 1 TeV: {summary['psf_r68_deg']:.3f} deg")
PSF 68 % radius at 1 TeV: 0.0... deg
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from sat.errors import ConfigError

__all__ = [
    "IrfInfo",
    "check_energy_range",
    "energy_axes",
    "irf_info",
    "irf_path",
    "irf_summary",
    "known_irfs",
    "load_irf",
    "plot_irf",
    "true_energy_axis",
]

# The components every CTAO IRF file holds, as Gammapy names them.
COMPONENTS = ("aeff", "edisp", "psf", "bkg")
PROD5_SOURCE = (
    "CTAO & CTA Consortium (2021), CTAO Instrument Response Functions prod5 v0.1, "
    "doi:10.5281/zenodo.5499840"
)


@dataclass(frozen=True)
class IrfInfo:
    """Metadata of one IRF.

    Attributes
    ----------
    name : str
        The name used everywhere (``load_irf(name)``, use-case configs, CLI).
    dataset : str
        The `sat.data` dataset holding the file.
    file : str
        The file, relative to the dataset folder.
    production : str
        Monte Carlo production and version.
    site : str
        "ctao-north" or "ctao-south" (a `sat.sites` name).
    array : str
        The telescopes simulated.
    zenith_deg : float
        Zenith angle of the simulation.
    azimuth : str
        Azimuth of the simulation.
    livetime_h : float
        Observation time the event selection was optimised for.
    source : str
        Publication of the IRF.
    licence : str
        Its licence.
    legacy : bool
        Superseded by a newer production.
    """

    name: str
    dataset: str
    file: str
    production: str
    site: str
    array: str
    zenith_deg: float
    azimuth: str
    livetime_h: float
    source: str
    licence: str
    legacy: bool = False

    def as_dict(self) -> dict:
        """Return the metadata as a plain dict (for JSON)."""
        return asdict(self)


_IRFS = (
    IrfInfo(
        name="prod5-south-z20-50h",
        dataset="cta-caldb",
        file="Prod5-South-20deg-AverageAz-14MSTs37SSTs.180000s-v0.1.fits.gz",
        production="prod5 v0.1",
        site="ctao-south",
        array="Alpha configuration: 14 MSTs + 37 SSTs",
        zenith_deg=20.0,
        azimuth="average",
        livetime_h=50.0,
        source=PROD5_SOURCE,
        licence="CC BY 4.0",
    ),
    IrfInfo(
        name="prod5-north-z20-50h",
        dataset="cta-caldb",
        file="Prod5-North-20deg-AverageAz-4LSTs09MSTs.180000s-v0.1.fits.gz",
        production="prod5 v0.1",
        site="ctao-north",
        array="Alpha configuration: 4 LSTs + 9 MSTs",
        zenith_deg=20.0,
        azimuth="average",
        livetime_h=50.0,
        source=PROD5_SOURCE,
        licence="CC BY 4.0",
    ),
    IrfInfo(
        name="1dc-south-z20-50h",
        dataset="cta-1dc",
        file="caldb/data/cta/1dc/bcf/South_z20_50h/irf_file.fits",
        production="prod3b (first data challenge, 1DC)",
        site="ctao-south",
        array="1DC South baseline array (LSTs, MSTs and SSTs)",
        zenith_deg=20.0,
        azimuth="average",
        livetime_h=50.0,
        source="CTA Consortium, first data challenge (2017), "
        "https://www.cta-observatory.org/science/cta-performance/",
        licence="public, with attribution to the CTA Consortium (no licence file)",
        legacy=True,
    ),
)


def known_irfs() -> dict[str, IrfInfo]:
    """Return every known IRF by name."""
    return {info.name: info for info in _IRFS}


def irf_info(name: str) -> IrfInfo:
    """Return the metadata of IRF ``name``.

    Raises
    ------
    ConfigError
        For an unknown name, listing the known ones.
    """
    known = known_irfs()
    key = name.strip().lower()
    if key not in known:
        raise ConfigError(f"unknown IRF {name!r}; known: {', '.join(known)}")
    return known[key]


def irf_path(name: str) -> Path:
    """Return the file of IRF ``name``, or raise a one-line `DataError` if missing."""
    from sat.data import require
    from sat.errors import DataError

    info = irf_info(name)
    path = require(info.dataset) / info.file
    if not path.is_file():
        raise DataError(
            f"IRF {info.name!r}: {path} is missing: run: "
            f"ctao-sat data download {info.dataset}"
        )
    return path


def load_irf(name: str) -> dict:
    """Load IRF ``name`` with Gammapy.

    Parameters
    ----------
    name : str
        A name of `known_irfs`.

    Returns
    -------
    dict
        ``{"aeff", "edisp", "psf", "bkg"}`` -> Gammapy IRF objects, as returned by
        `gammapy.irf.load_irf_dict_from_file`.

    Raises
    ------
    ConfigError
        Unknown name.
    DataError
        Missing, unreadable or incomplete file.
    """
    import logging
    import warnings

    from gammapy.irf import load_irf_dict_from_file

    from sat.errors import DataError, reading

    path = irf_path(name)
    # The 1DC background unit '1/s/MeV/sr' is not FITS-standard; astropy warns and
    # Gammapy logs that it assumes s-1 MeV-1 sr-1, which is what the file means.
    logger = logging.getLogger("gammapy.irf.background")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with reading(path), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*did not parse as fits unit")
            irfs = load_irf_dict_from_file(path)
    finally:
        logger.setLevel(level)
    # Gammapy returns the HDUs it finds: a truncated file gives a partial dict.
    missing = [component for component in COMPONENTS if component not in irfs]
    if missing:
        raise DataError(
            f"cannot read {path}: no {', '.join(missing)} (truncated or incomplete "
            f"file): run: ctao-sat data download {irf_info(name).dataset}"
        )
    return irfs


def irf_summary(name: str, energy_tev: float = 1.0, offset_deg: float = 0.5) -> dict:
    """Return the key performance numbers of IRF ``name``.

    Parameters
    ----------
    name : str
        A name of `known_irfs`.
    energy_tev : float
        Energy at which the effective area, PSF, background and resolution are given.
    offset_deg : float
        Offset from the pointing position. The default 0.5 deg is the centre of the
        innermost offset bin of these IRFs (on-axis values would be extrapolated).

    Returns
    -------
    dict
        Metadata plus ``energy_range_tev`` (true-energy axis of the effective area),
        ``aeff_range_tev`` (where the effective area exceeds 10 % of its maximum at
        this offset), ``offset_max_deg`` (field of view of the IRF),
        ``aeff_m2``, ``psf_r68_deg`` (68 % containment radius),
        ``background_rate`` (s-1 MeV-1 sr-1, at this energy),
        ``background_rate_integral`` (s-1 deg-2, whole energy axis),
        ``energy_resolution`` (RMS of E_reco / E_true).
    """
    import astropy.units as u
    import numpy as np
    from gammapy.maps import MapAxis

    info = irf_info(name)
    if not 0 <= offset_deg:
        raise ConfigError(f"offset {offset_deg} deg is negative")
    irfs = load_irf(name)
    energy = energy_tev * u.TeV
    offset = offset_deg * u.deg
    aeff, psf, edisp, bkg = irfs["aeff"], irfs["psf"], irfs["edisp"], irfs["bkg"]
    axis = aeff.axes["energy_true"]
    offset_max = aeff.axes["offset"].edges.max()
    if offset > offset_max:
        raise ConfigError(
            f"offset {offset_deg} deg is outside the field of view of IRF {name!r} "
            f"(0 to {offset_max.to_value('deg'):g} deg)"
        )
    if not axis.edges.min() <= energy <= axis.edges.max():
        raise ConfigError(
            f"energy {energy_tev} TeV is outside the energy range of IRF {name!r} "
            f"({axis.edges.min().to_value('TeV'):g} to "
            f"{axis.edges.max().to_value('TeV'):g} TeV)"
        )

    grid = np.geomspace(axis.edges.min(), axis.edges.max(), 400)
    area = aeff.evaluate(energy_true=grid, offset=offset).to_value("m2")
    above = grid[area >= 0.1 * area.max()]
    energy_axis = MapAxis.from_energy_bounds(
        axis.edges.min(), axis.edges.max(), nbin=20, per_decade=True
    )
    kernel = edisp.to_edisp_kernel(
        offset=offset,
        energy_axis_true=energy_axis.copy(name="energy_true"),
        energy_axis=energy_axis,
    )
    fov = {"fov_lon": offset, "fov_lat": 0 * u.deg}
    rate_integral = bkg.integral(
        axis_name="energy", energy=bkg.axes["energy"].edges[-1], **fov
    )
    return {
        **info.as_dict(),
        "energy_tev": energy_tev,
        "offset_deg": offset_deg,
        "energy_range_tev": [
            float(axis.edges.min().to_value("TeV")),
            float(axis.edges.max().to_value("TeV")),
        ],
        "aeff_range_tev": [
            float(above.min().to_value("TeV")),
            float(above.max().to_value("TeV")),
        ],
        "offset_max_deg": float(offset_max.to_value("deg")),
        "aeff_m2": float(
            aeff.evaluate(energy_true=energy, offset=offset).to_value("m2")
        ),
        "psf_r68_deg": float(
            psf.containment_radius(0.68, energy_true=energy, offset=offset).to_value(
                "deg"
            )
        ),
        "background_rate": float(
            bkg.evaluate(energy=energy, **fov).to_value("s-1 MeV-1 sr-1")
        ),
        "background_rate_integral": float(rate_integral.to_value("s-1 deg-2")),
        "energy_resolution": float(np.squeeze(kernel.get_resolution(energy))),
    }


def plot_irf(name: str, folder) -> list[Path]:
    """Write the figures of every component of IRF ``name`` as PNG.

    The figures are those of `sat.irf_plots.irf_figures`: each component in
    physical units over energy and over the field of view.

    Parameters
    ----------
    name : str
        A name of `known_irfs`.
    folder : str or Path
        Where to write ``NAME-aeff.png``, ``NAME-psf.png``, ``NAME-edisp.png`` and
        ``NAME-bkg.png`` (created if needed).

    Returns
    -------
    list of Path
        The files written.
    """
    import matplotlib.pyplot as plt

    from sat.irf_plots import irf_figures

    info = irf_info(name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for component, figure in irf_figures(name).items():
        path = folder / f"{info.name}-{component}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def check_energy_range(name: str, irfs: dict, energy_min_tev, energy_max_tev) -> None:
    """Refuse an energy range that the IRF does not cover (one-line ConfigError).

    Parameters
    ----------
    name : str
        The IRF name (for the message).
    irfs : dict
        Its Gammapy IRFs (`load_irf`).
    energy_min_tev, energy_max_tev : float
        The (reconstructed) energy range of an analysis.
    """
    edges = irfs["bkg"].axes["energy"].edges.to_value("TeV")
    low, high = edges.min(), edges.max()
    if energy_min_tev < low * (1 - 1e-6) or energy_max_tev > high * (1 + 1e-6):
        raise ConfigError(
            f"energy range {energy_min_tev:g} - {energy_max_tev:g} TeV is outside "
            f"IRF {name!r} ({low:.3g} - {high:.3g} TeV): set energy_min_tev / "
            "energy_max_tev inside it"
        )


def true_energy_axis(irfs: dict, energy_min_tev, energy_max_tev, per_decade=10):
    """Return a true-energy axis for an analysis between the two energies.

    It reaches a factor 2 beyond the analysis range on both sides (energy
    dispersion moves events across its edges), cut to the effective area's axis.
    """
    from gammapy.maps import MapAxis

    edges = irfs["aeff"].axes["energy_true"].edges.to_value("TeV")
    return MapAxis.from_energy_bounds(
        max(energy_min_tev / 2, edges.min()),
        min(energy_max_tev * 2, edges.max()),
        nbin=per_decade,
        per_decade=True,
        unit="TeV",
        name="energy_true",
    )


def energy_axes(irfs: dict, config) -> tuple:
    """Return the reconstructed and true energy axes of a simulation from a config.

    Parameters
    ----------
    irfs : dict
        The IRFs (`load_irf`): the true axis covers their energy dispersion.
    config : use-case config
        Its ``energy_min_tev``, ``energy_max_tev`` and ``bins_per_decade``.
    """
    from gammapy.maps import MapAxis

    energy = MapAxis.from_energy_bounds(
        config.energy_min_tev,
        config.energy_max_tev,
        nbin=config.bins_per_decade,
        per_decade=True,
        unit="TeV",
    )
    return energy, true_energy_axis(irfs, config.energy_min_tev, config.energy_max_tev)
