"""Verify an installed environment against the release.

Every pinned component must be installed at its pinned version, import, and pass
a small real smoke check of its own; every pinned dependency must be at its pinned
version. `run_checks` returns one `Check` per line that ``ctao-sat doctor`` prints.
"""

from __future__ import annotations

import importlib
import io
import os
import platform
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from sat.stack import (
    Pin,
    compare_installed,
    extra_pins,
    installed_version,
    optional_extras,
    release,
)

__all__ = ["SMOKE_CHECKS", "Check", "run_checks"]

PASS, FAIL, WARN = "PASS", "FAIL", "WARN"


@dataclass
class Check:
    """The outcome of one doctor check.

    Attributes
    ----------
    name : str
        What was checked (a component name, ``python``, ``dependencies``...).
    status : {"PASS", "FAIL", "WARN"}
        WARN is informational and does not fail the doctor.
    detail : str
        What was found.
    fix : str
        What to run to fix a failure (empty when it passed).
    """

    name: str
    status: str
    detail: str
    fix: str = ""

    def to_dict(self) -> dict:
        """Return the check as a JSON-ready dict."""
        return asdict(self)


def _smoke_gammapy() -> str:
    # Build a spectrum dataset on a sky region, simulate a power law, fit it back.
    from gammapy.datasets import SpectrumDataset
    from gammapy.maps import MapAxis, RegionGeom
    from gammapy.modeling import Fit
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel

    energy = MapAxis.from_energy_bounds("0.3 TeV", "30 TeV", nbin=12, name="energy")
    geom = RegionGeom.create("icrs;circle(83.63, 22.01, 0.11)", axes=[energy])
    dataset = SpectrumDataset.create(geom=geom)
    dataset.exposure.quantity = 1e10 * dataset.exposure.unit
    dataset.background.data += 5.0
    dataset.mask_safe.data[...] = True  # `create` starts with every bin masked
    truth = PowerLawSpectralModel(index=2.5, amplitude="1e-10 cm-2 s-1 TeV-1")
    dataset.models = [SkyModel(spectral_model=truth, name="smoke")]
    dataset.fake(random_state=42)
    truth.index.value = 2.0
    result = Fit().run([dataset])
    index, error = truth.index.value, truth.index.error
    if not result.success or abs(index - 2.5) > 5 * error:
        raise RuntimeError(f"fit did not recover index 2.5: {index:.3f} ± {error:.3f}")
    return (
        f"simulated and fitted a spectrum: index {index:.2f} ± {error:.2f} (true 2.5)"
    )


def _smoke_pint() -> str:
    import pint.config
    from pint.models import get_model

    model = get_model(pint.config.examplefile("NGC6440E.par"))
    f0 = model.F0.quantity.to_value("Hz")
    if not 61.48 < f0 < 61.49:
        raise RuntimeError(f"NGC6440E F0 = {f0} Hz, expected 61.485 Hz")
    return f"loaded timing model {model.PSR.value}: F0 = {f0:.4f} Hz"


def _smoke_naima() -> str:
    import astropy.units as u
    import numpy as np
    from naima.models import ExponentialCutoffPowerLaw, InverseCompton

    electrons = ExponentialCutoffPowerLaw(1e36 / u.eV, 1 * u.TeV, 2.5, 50 * u.TeV)
    ic = InverseCompton(electrons, seed_photon_fields=["CMB"], Eemax=500 * u.TeV)
    sed = ic.sed([0.1, 1, 10] * u.TeV, distance=1 * u.kpc).to_value("erg cm-2 s-1")
    if not (np.all(np.isfinite(sed)) and np.all(sed > 0)):
        raise RuntimeError(f"inverse-Compton SED not positive and finite: {sed}")
    return f"inverse Compton on the CMB: E^2 dN/dE(1 TeV) = {sed[1]:.2e} erg cm-2 s-1"


def _smoke_regions() -> str:
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.wcs import WCS
    from regions import CircleSkyRegion

    center = SkyCoord(83.63, 22.01, unit="deg")
    region = CircleSkyRegion(center, radius=0.2 * u.deg)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [83.63, 22.01]
    wcs.wcs.cdelt = [-0.02, 0.02]
    pixel = region.to_pixel(wcs)
    inside = region.contains(SkyCoord(83.7, 22.0, unit="deg"), wcs)
    if not (inside and abs(pixel.radius - 10) < 0.1):
        raise RuntimeError("circle region on a WCS gave wrong pixels")
    return f"sky circle -> pixel circle of radius {pixel.radius:.1f} px"


def _smoke_iminuit() -> str:
    from iminuit import Minuit

    def cost(x, y):
        return (x - 1) ** 2 + (y + 2) ** 2

    cost.errordef = Minuit.LEAST_SQUARES
    minuit = Minuit(cost, x=0, y=0).migrad()
    x, y = minuit.values
    if not (minuit.valid and abs(x - 1) < 1e-4 and abs(y + 2) < 1e-4):
        raise RuntimeError(f"MIGRAD did not find (1, -2): ({x}, {y})")
    return f"MIGRAD found the minimum at ({x:.3f}, {y:.3f})"


def _smoke_astropy() -> str:
    from astropy.coordinates import SkyCoord

    galactic = SkyCoord(83.633, 22.0145, unit="deg").galactic
    if abs(galactic.l.deg - 184.557) > 0.01:
        raise RuntimeError(f"Crab at l = {galactic.l.deg:.3f} deg, expected 184.557")
    return f"Crab in galactic coordinates: l = {galactic.l.deg:.2f} deg"


def _smoke_numpy() -> str:
    import numpy as np

    x = np.linalg.solve([[3.0, 1.0], [1.0, 2.0]], [9.0, 8.0])
    if not np.allclose(x, [2.0, 3.0]):
        raise RuntimeError(f"linear solve gave {x}")
    return "linear algebra solve"


def _smoke_scipy() -> str:
    import numpy as np
    from scipy.integrate import quad

    value, _ = quad(np.exp, 0, 1)
    if abs(value - (np.e - 1)) > 1e-10:
        raise RuntimeError(f"integral of exp over [0, 1] = {value}")
    return "numerical integration"


def _smoke_matplotlib() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.loglog([1, 10], [1, 100])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    if not buffer.getvalue().startswith(b"\x89PNG"):
        raise RuntimeError("savefig did not write a PNG")
    return f"rendered a PNG ({len(buffer.getvalue())} bytes, Agg backend)"


def _smoke_emcee() -> str:
    import emcee
    import numpy as np

    sampler = emcee.EnsembleSampler(8, 1, lambda x: -0.5 * float(x[0] ** 2))
    start = np.random.default_rng(1).normal(size=(8, 1))
    sampler.run_mcmc(start, 200, progress=False)
    mean = sampler.get_chain(discard=50, flat=True).mean()
    if abs(mean) > 0.5:
        raise RuntimeError(f"sampled a unit Gaussian with mean {mean:.2f}")
    return f"sampled a unit Gaussian: mean {mean:+.2f}"


# pinned component -> smoke check; tests/test_pins.py proves every component has one.
SMOKE_CHECKS = {
    "gammapy": _smoke_gammapy,
    "pint-pulsar": _smoke_pint,
    "naima": _smoke_naima,
    "regions": _smoke_regions,
    "iminuit": _smoke_iminuit,
    "astropy": _smoke_astropy,
    "numpy": _smoke_numpy,
    "scipy": _smoke_scipy,
    "matplotlib": _smoke_matplotlib,
    "emcee": _smoke_emcee,
}


def _fix_for(pin: Pin) -> str:
    return (
        f"pip install '{pin.requirement}' (or recreate the release environment: "
        "conda env create -f environment.yml)"
    )


def _check_python() -> Check:
    from packaging.specifiers import SpecifierSet

    supported = release()["python"]
    found = platform.python_version()
    if found in SpecifierSet(supported):
        return Check("python", PASS, f"{found} (release supports {supported})")
    return Check(
        "python",
        FAIL,
        f"{found}, the release supports {supported}",
        f"use a Python {supported}, e.g. {release()['python_default']}",
    )


def _check_component(pin: Pin, installed: str | None) -> Check:
    if installed is None:
        return Check(
            pin.name, FAIL, f"not installed, expected {pin.version}", _fix_for(pin)
        )
    if installed != pin.version:
        return Check(
            pin.name,
            FAIL,
            f"found {installed}, expected {pin.version}",
            _fix_for(pin),
        )
    try:
        importlib.import_module(pin.import_name)
        detail = SMOKE_CHECKS[pin.name]()
    except Exception as error:  # a broken component must be reported, not raised
        message = " ".join(f"{type(error).__name__}: {error}".split())
        return Check(
            pin.name,
            FAIL,
            f"{installed} installed but broken: {message}",
            "reinstall the release environment from environment.yml or "
            "the pip constraints (nox -s pins)",
        )
    return Check(pin.name, PASS, f"{installed}: {detail}")


def _check_dependencies(pairs) -> Check:
    wrong = [
        f"{pin.name} {installed or 'missing'} (expected {pin.version})"
        for pin, installed in pairs
        if installed != pin.version
    ]
    if wrong:
        fixes = " ".join(f"'{pin.requirement}'" for pin, v in pairs if v != pin.version)
        return Check("dependencies", FAIL, "; ".join(wrong), f"pip install {fixes}")
    return Check("dependencies", PASS, f"all {len(pairs)} pinned dependencies match")


def _check_extra(extra: str) -> Check | None:
    """Check the pins of an optional extra, or return None when it is absent.

    The extra's first pin names it (``ray``, ``jupyterlab``): when that one is not
    installed, the extra is not part of this environment and nothing is checked.
    """
    pins = [pin for pin in extra_pins(extra) if pin.applies()]
    if installed_version(pins[0].name) is None:
        return None
    pairs = [(pin, installed_version(pin.name)) for pin in pins]
    wrong = [
        f"{p.name} {v or 'missing'} (expected {p.version})"
        for p, v in pairs
        if v != p.version
    ]
    name = f"extra {extra}"
    if wrong:
        fixes = " ".join(f"'{p.requirement}'" for p, v in pairs if v != p.version)
        return Check(name, FAIL, "; ".join(wrong), f"pip install {fixes}")
    detail = f"all {len(pins)} pins of the {extra} extra match"
    if extra == "jupyter":
        return _check_jupyter_kernel(name, detail)
    return Check(name, PASS, detail)


def _check_jupyter_kernel(name: str, detail: str) -> Check:
    # Notebooks of the release ask for the kernel named after it (sat.notebooks).
    from jupyter_client.kernelspec import KernelSpecManager

    from sat.notebooks import kernel_name

    kernel = kernel_name()
    if kernel in KernelSpecManager().find_kernel_specs():
        return Check(name, PASS, f"{detail}; kernel {kernel} installed")
    return Check(
        name,
        WARN,
        f"{detail}; kernel {kernel} not installed: the release's notebooks ask for it",
        "ctao-sat notebooks --install-kernel",
    )


def _check_gammapy_data() -> Check:
    value = os.environ.get("GAMMAPY_DATA")
    if not value:
        return Check(
            "GAMMAPY_DATA",
            WARN,
            "not set: the use cases need it",
            "export GAMMAPY_DATA=<folder>, or: ctao-sat data download",
        )
    if not Path(value).is_dir():
        return Check(
            "GAMMAPY_DATA",
            FAIL,
            f"{value} does not exist",
            "point GAMMAPY_DATA at an existing folder, or: ctao-sat data download",
        )
    return Check("GAMMAPY_DATA", PASS, value)


def run_checks() -> list[Check]:
    """Run every doctor check in order and return them.

    Returns
    -------
    list of Check
        Python, each pinned component (version, import, smoke), the pinned
        dependencies, the optional extras that are installed, and the data
        location.
    """
    # Smoke checks must never try to reach the network or a display.
    os.environ.setdefault("MPLBACKEND", "Agg")
    # gammapy 2.1's docstrings raise SyntaxWarnings on first compile: not our news.
    warnings.filterwarnings("ignore", category=SyntaxWarning)
    from sat import offline

    offline.configure()
    pairs = compare_installed()
    checks = [_check_python()]
    checks += [_check_component(pin, v) for pin, v in pairs if pin.component]
    checks.append(_check_dependencies([(p, v) for p, v in pairs if not p.component]))
    checks += [c for c in map(_check_extra, optional_extras()) if c is not None]
    checks.append(_check_gammapy_data())
    return checks
