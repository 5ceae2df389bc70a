"""Joint log-parabola fit of the Crab spectra of five instruments.

Nigro et al. 2019 (A&A 625, A10) fitted a log-parabola to the Crab spectra of
Fermi-LAT, MAGIC, VERITAS, FACT and H.E.S.S., one by one and jointly; their
OGIP spectra are in ``$GAMMAPY_DATA/joint-crab/spectra``. This use case repeats
both fits with Gammapy and validates them against Table 2 of the paper.
"""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import Field

from sat.usecases.base import (
    Outcome,
    RunContext,
    UseCase,
    UseCaseConfig,
    fitted_parameters,
)
from sat.validation import Reference, compare_fitted

INSTRUMENTS = ("fermi", "magic", "veritas", "fact", "hess")
SOURCE = "Nigro et al. 2019, A&A 625, A10, Table 2"
# Table 2: amplitude (1e-11 cm-2 s-1 TeV-1), alpha, beta (log10 convention).
TABLE_2 = {
    "fermi": ((4.044, 1.009), (2.372, 0.239), (0.137, 0.127)),
    "magic": ((4.145, 0.297), (2.600, 0.095), (0.443, 0.112)),
    "veritas": ((3.760, 0.363), (2.441, 0.095), (0.259, 0.169)),
    "fact": ((3.491, 0.305), (2.542, 0.225), (0.425, 0.313)),
    "hess": ((4.474, 0.287), (2.393, 0.183), (0.372, 0.224)),
    "joint": ((3.849, 0.114), (2.505, 0.026), (0.236, 0.025)),
}
# Same spectra, same model, same statistic (WStat): only the minimiser and its
# numerics differ, so we expect agreement far inside the statistical errors.
# 0.5 sigma of the combined errors catches a wrong model, wrong reference energy,
# wrong beta convention or a lost dataset, which all move results by > 1 sigma.
N_SIGMA = 0.5
WHY = (
    "same OGIP spectra, model and WStat as the paper; only the minimiser differs, "
    "so agreement must be far inside the statistical errors"
)


class JointCrabConfig(UseCaseConfig):
    """Configuration of the joint-Crab fit."""

    instruments: list[str] = Field(default_factory=lambda: list(INSTRUMENTS))
    """Spectra to fit, each alone and all jointly: fermi, magic, veritas, fact, hess."""
    reference_energy_tev: float = 1.0
    """Reference energy of the log-parabola (TeV); Table 2 of the paper uses 1."""
    individual_fits: bool = True
    """Fit each instrument alone too (else only the joint fit)."""


def references(name: str) -> list[Reference]:
    """Return the Table 2 row of ``name`` as references in Gammapy's conventions.

    The paper's beta uses log10; Gammapy's `LogParabolaSpectralModel` uses the
    natural log, so the paper's beta and its error are divided by ln(10).
    """
    (amp, amp_err), (alpha, alpha_err), (beta, beta_err) = TABLE_2[name]
    source = f"{SOURCE}, {name}"
    return [
        Reference(
            "amplitude",
            amp * 1e-11,
            amp_err * 1e-11,
            "cm-2 s-1 TeV-1",
            source,
            N_SIGMA,
            WHY,
        ),
        Reference("alpha", alpha, alpha_err, "", source, N_SIGMA, WHY),
        Reference(
            "beta",
            beta / math.log(10),
            beta_err / math.log(10),
            "",
            source,
            N_SIGMA,
            WHY + "; beta_gammapy = beta_paper / ln 10",
        ),
    ]


class JointCrab(UseCase):
    """Joint-Crab: log-parabola fits of five instruments' Crab spectra."""

    name = "joint-crab"
    usecase_id = "SUSS-UC-SAT-040"
    summary = "Joint log-parabola fit of the Crab seen by five instruments"
    Config = JointCrabConfig
    datasets = ("joint-crab",)

    def run(self, config: JointCrabConfig, context: RunContext) -> Outcome:
        """Fit each instrument alone, then all jointly; validate against Table 2."""
        import astropy.units as u
        from gammapy.datasets import Datasets, SpectrumDatasetOnOff
        from gammapy.modeling import Fit
        from gammapy.modeling.models import (
            LogParabolaSpectralModel,
            Models,
            SkyModel,
        )

        from sat.data import require
        from sat.errors import ConfigError, reading

        unknown = sorted(set(config.instruments) - set(INSTRUMENTS))
        if unknown or not config.instruments:
            raise ConfigError(
                f"key 'instruments': unknown {unknown or 'empty list'}; "
                f"allowed: {', '.join(INSTRUMENTS)}"
            )
        root = require("joint-crab")

        def model():
            spectral = LogParabolaSpectralModel(
                amplitude=3e-11 * u.Unit("cm-2 s-1 TeV-1"),
                reference=config.reference_energy_tev * u.TeV,
                alpha=2.5,
                beta=0.1,
            )
            return SkyModel(spectral_model=spectral, name="crab")

        per_instrument = {}
        for instrument in context.progress(config.instruments, "reading spectra"):
            files = sorted(Path(root, instrument).glob("pha_*.fits"))
            datasets = Datasets()
            for path in files:
                with reading(path):
                    datasets.append(SpectrumDatasetOnOff.read(path))
                context.add_inputs(
                    path, *Path(root, instrument).glob(path.name.replace("pha_", "*_"))
                )
            per_instrument[instrument] = datasets

        validation, extra, fitted = [], {"fits": {}}, {}
        fits = dict(per_instrument) if config.individual_fits else {}
        fits["joint"] = Datasets([d for ds in per_instrument.values() for d in ds])
        reference_ok = math.isclose(config.reference_energy_tev, 1.0)
        # Table 2's joint row is the fit of all five instruments; its rows per
        # instrument hold whichever instruments are selected.
        all_five = set(config.instruments) == set(INSTRUMENTS)
        for name, datasets in fits.items():
            with context.step(f"fitting {name} ({len(datasets)} spectra)"):
                sky_model = model()
                datasets.models = [sky_model]
                result = Fit().run(datasets)
            # Keep the model itself: the joint fit re-assigns the models of the
            # very same dataset objects the individual fits used.
            fitted[name] = sky_model.spectral_model
            parameters = fitted_parameters(Models([sky_model]))
            extra["fits"][name] = {
                "success": bool(result.success),
                "total_stat": float(result.total_stat),
                "parameters": parameters,
            }
            if reference_ok and (name != "joint" or all_five):
                validation += compare_fitted(references(name), parameters, fit=name)
            context.write_models(Models([sky_model]), f"models/{name}.yaml")
        joint = extra["fits"]["joint"]["parameters"]
        context.keep(datasets=fits["joint"], models=Models(fits["joint"].models))
        context.save_figure(_plot_sed(fitted, per_instrument), "sed.png")
        summary = [
            f"joint fit of {len(fits['joint'])} spectra from "
            f"{', '.join(config.instruments)}",
            f"amplitude {joint['amplitude']['value']:.4g} ± "
            f"{joint['amplitude']['error']:.2g} cm-2 s-1 TeV-1, "
            f"alpha {joint['alpha']['value']:.3f} ± {joint['alpha']['error']:.3f}, "
            f"beta {joint['beta']['value']:.4f} (x ln10 = "
            f"{joint['beta']['value'] * math.log(10):.3f})",
        ]
        return Outcome(joint, validation, summary, extra)


# Who took the spectra: the legend and caption name the instruments, not folders.
LABELS = {
    "fermi": "Fermi-LAT",
    "magic": "MAGIC",
    "veritas": "VERITAS",
    "fact": "FACT",
    "hess": "H.E.S.S.",
}


def _plot_sed(fitted: dict, per_instrument: dict):
    """Plot every fitted log-parabola, the joint one with its error band.

    Each instrument's model is drawn over the energies its spectra cover (safe
    range), where it is measured; the joint one over all of them.

    Parameters
    ----------
    fitted : dict
        Fitted spectral model by fit name (instrument or ``joint``).
    per_instrument : dict
        The instruments' `~gammapy.datasets.Datasets` by name.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    import astropy.units as u
    import matplotlib.pyplot as plt

    from sat.plots import caption, sed_labels

    def covered(datasets):
        lows = [d.energy_range_safe[0].quantity.to_value("TeV").min() for d in datasets]
        highs = [
            d.energy_range_safe[1].quantity.to_value("TeV").max() for d in datasets
        ]
        return [min(lows), max(highs)] * u.TeV

    all_datasets = [d for datasets in per_instrument.values() for d in datasets]
    figure, axes = plt.subplots(figsize=(7, 5))
    for name, model in fitted.items():
        if name == "joint":
            continue
        model.plot(
            covered(per_instrument[name]),
            ax=axes,
            sed_type="e2dnde",
            ls="--",
            label=f"{LABELS[name]} alone",
        )
    if "joint" in fitted:
        energy_bounds = covered(all_datasets)
        fitted["joint"].plot_error(
            energy_bounds, ax=axes, sed_type="e2dnde", label="joint, 1σ error band"
        )
        fitted["joint"].plot(
            energy_bounds, ax=axes, sed_type="e2dnde", color="k", lw=2, label="joint"
        )
    sed_labels(axes)
    axes.legend()
    axes.set_title("Crab Nebula: log-parabola fits")
    caption(figure, _data_caption(per_instrument))
    return figure


def _data_caption(per_instrument: dict) -> str:
    """Return what the fits are made of: instruments, spectra, live time."""
    parts = []
    for name, datasets in per_instrument.items():
        hours = sum(d.exposure.meta["livetime"].to_value("h") for d in datasets)
        spectra = f"{len(datasets)} spectr" + ("um" if len(datasets) == 1 else "a")
        # Fermi-LAT's OGIP exposure carries no live time (it is in the ARF).
        time = "" if name == "fermi" else f", {hours:.2f} h live time"
        parts.append(f"{LABELS[name]} {spectra}{time}")
    return "Spectra of Nigro et al. 2019 (A&A 625, A10): " + "; ".join(parts)


USECASE = JointCrab
