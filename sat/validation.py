"""Validation of science results against published or statistical references.

Each use case carries its `Reference` values: where they come from, the tolerance
and why that tolerance. `compare` turns a measured value into a `sat.result.Check`
that goes into ``result.json``; a failed check makes ``ctao-sat run`` exit
non-zero. `check_bounds` does the same for an allowed interval.

Simulations validate against their own truth: `pull_checks` tests that the pulls
(fit - truth) / error of a parameter over many seeds are N(0, 1), and
`converged_check` that every seed's fit converged (a fit that did not has no
meaningful pull); `pull_statistics` gives what a summary reports of them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from sat.result import FAIL, PASS, BoundsCheck, Check

__all__ = [
    "PULL_N_SIGMA",
    "Bounds",
    "Reference",
    "check_bounds",
    "compare",
    "compare_fitted",
    "converged_check",
    "pull_checks",
    "pull_statistics",
]

# The pull test: N pulls of an unbiased fit with right errors are N(0, 1). Their
# mean then has error 1/sqrt(N); (N - 1) s^2 follows chi2(N - 1). Both must lie
# inside the central 99.73 % interval ("3 sigma"): a test that fails one run in
# about 370 by chance and catches errors that are wrong by much more than the
# interval's half-width, 3 / sqrt(2 N) (0.47 for 20 seeds, 0.21 for 100).
PULL_N_SIGMA = 3.0


@dataclass(frozen=True)
class Reference:
    """A reference value and the tolerance a measurement must meet.

    Attributes
    ----------
    quantity : str
        Name of the checked quantity (a fitted parameter name, or a statistic).
    value : float
        Reference value, in ``unit``.
    error : float
        Its 1-sigma uncertainty (0 for an exact expectation).
    unit : str
        Unit of ``value`` and ``error`` ("" if dimensionless).
    source : str
        Where the reference comes from (paper, table, or "truth of the simulation").
    n_sigma : float
        The measurement passes if ``|measured - value| <= n_sigma * sigma`` where
        sigma combines the reference and measured errors in quadrature.
    why : str
        Why this tolerance (statistics of both sides, known analysis differences).
    """

    quantity: str
    value: float
    error: float
    unit: str
    source: str
    n_sigma: float
    why: str


def compare(
    reference: Reference, measured: float, error: float = 0.0, fit: str | None = None
) -> Check:
    """Compare a measured value with its reference.

    Parameters
    ----------
    reference : Reference
        The reference and its tolerance.
    measured, error : float
        The measured value and its 1-sigma error, in the reference's unit.
    fit : str, optional
        Which fit of the run was measured, when it has several.

    Returns
    -------
    `sat.result.Check`
        The reference, the measurement, the deviation in sigma and the verdict
        ("PASS" or "FAIL").
    """
    sigma = math.hypot(reference.error, error)
    deviation = abs(measured - reference.value)
    pulls = deviation / sigma if sigma > 0 else (0.0 if deviation == 0 else math.inf)
    ok = math.isfinite(measured) and pulls <= reference.n_sigma
    return Check(
        **asdict(reference),
        measured=measured,
        measured_error=error,
        deviation_sigma=round(pulls, 3),
        verdict=PASS if ok else FAIL,
        fit=fit,
    )


def compare_fitted(references, parameters: dict, fit: str | None = None) -> list:
    """Compare fitted parameters with their references, one `compare` each.

    Parameters
    ----------
    references : iterable of Reference
        Each names the fitted parameter it checks (``quantity``).
    parameters : dict
        ``{name: {"value": ..., "error": ...}}`` as ``result.json`` holds them.
    fit : str, optional
        Which fit of the run was measured, when it has several.

    Returns
    -------
    list of `sat.result.Check`
    """
    return [
        compare(
            ref,
            parameters[ref.quantity]["value"],
            parameters[ref.quantity]["error"],
            fit,
        )
        for ref in references
    ]


@dataclass(frozen=True)
class Bounds:
    """An interval a measured value must fall in (a threshold when one end is open).

    For quantities with no reference value but a physical or statistical range:
    a detection statistic above a threshold, a spectral index in a physical range.

    Attributes
    ----------
    quantity : str
        Name of the checked quantity.
    minimum, maximum : float
        The allowed interval, in ``unit`` (``-math.inf`` or ``math.inf`` for an
        open end).
    unit : str
        Unit of the bounds ("" if dimensionless).
    source : str
        Where the bounds come from.
    why : str
        Why these bounds.
    """

    quantity: str
    minimum: float
    maximum: float
    unit: str
    source: str
    why: str


def check_bounds(bounds: Bounds, measured: float, error: float = 0.0) -> BoundsCheck:
    """Check that a measured value lies within ``bounds``.

    Parameters
    ----------
    bounds : Bounds
        The allowed interval.
    measured, error : float
        The measured value and its 1-sigma error (reported, not used: the value
        itself must be inside).

    Returns
    -------
    `sat.result.BoundsCheck`
        The bounds, the measurement and the verdict, with the fields of `compare`
        so that reports treat both alike: ``value`` is the bound the value is
        nearest to (or outside of), ``deviation_sigma`` how far outside it is in
        units of ``error`` (0 inside; None when outside with no error).
    """
    ends = [end for end in (bounds.minimum, bounds.maximum) if math.isfinite(end)]
    if not ends:
        raise ValueError(f"bounds of {bounds.quantity!r} are open at both ends")
    inside = math.isfinite(measured) and bounds.minimum <= measured <= bounds.maximum
    finite = math.isfinite(measured)
    nearest = min(ends, key=lambda end: abs(measured - end)) if finite else ends[0]
    if inside:
        deviation = 0.0
    elif error > 0 and finite:
        deviation = round(abs(measured - nearest) / error, 3)
    else:
        deviation = None
    return BoundsCheck(
        **{
            **asdict(bounds),
            # An open end is null in result.json (JSON has no infinity).
            "minimum": bounds.minimum if math.isfinite(bounds.minimum) else None,
            "maximum": bounds.maximum if math.isfinite(bounds.maximum) else None,
        },
        value=nearest,
        error=0.0,
        n_sigma=0.0,
        measured=measured,
        measured_error=error,
        deviation_sigma=deviation,
        verdict=PASS if inside else FAIL,
    )


def pull_checks(name: str, pulls, n_sigma: float = PULL_N_SIGMA) -> list[Check]:
    """Test that ``pulls`` are N(0, 1): their mean and their width.

    Parameters
    ----------
    name : str
        The parameter ("index", "amplitude").
    pulls : array
        (fit - truth) / error, one per seed.
    n_sigma : float
        Width of the acceptance, as a Gaussian-equivalent number of sigma.

    Returns
    -------
    list of `sat.result.Check`
        Two verdicts of `compare`. The mean is compared with 0 and error
        1 / sqrt(N). The width s is compared with 1 against the exact central
        interval of sqrt(chi2(N - 1) / (N - 1)): the error given to `compare` is
        the distance from 1 to the interval edge on the side of s, divided by
        ``n_sigma``, so that PASS means "inside the interval". Empty for fewer
        than 3 pulls (no width to test): the use case's failed `converged_check`
        then says why.
    """
    import numpy as np
    from scipy import stats

    pulls = np.asarray(pulls, dtype=float)
    n = len(pulls)
    if n < 3:
        return []
    mean, width = float(np.mean(pulls)), float(np.std(pulls, ddof=1))
    coverage = math.erf(n_sigma / math.sqrt(2))
    low, high = (
        math.sqrt(stats.chi2.ppf(q, n - 1) / (n - 1))
        for q in ((1 - coverage) / 2, (1 + coverage) / 2)
    )
    source = f"truth of the simulation, {n} seeds"
    mean_ref = Reference(
        f"{name} pull mean",
        0.0,
        1 / math.sqrt(n),
        "",
        source,
        n_sigma,
        f"mean of {n} N(0,1) pulls has error 1/sqrt({n}); a bias of the fit "
        f"larger than {n_sigma / math.sqrt(n):.2f} sigma fails",
    )
    width_ref = Reference(
        f"{name} pull width",
        1.0,
        ((high - 1) if width > 1 else (1 - low)) / n_sigma,
        "",
        source,
        n_sigma,
        f"sample std of {n} N(0,1) pulls lies in [{low:.3f}, {high:.3f}] with "
        f"{100 * coverage:.2f} % probability (chi2 with {n - 1} dof); outside, "
        "the fitted errors are wrong",
    )
    return [compare(mean_ref, mean), compare(width_ref, width)]


def converged_check(
    n_fits: int, n_converged: int, seeds: str = "every seed", fit: str | None = None
) -> Check:
    """Check that every fit of a pull test converged.

    Parameters
    ----------
    n_fits, n_converged : int
        How many fits ran, and how many converged.
    seeds : str
        What the fits are (the reference's source).
    fit : str, optional
        Which test of the run, when it has several.
    """
    return compare(
        Reference(
            "converged fits",
            float(n_fits),
            0.0,
            "",
            seeds,
            0.0,
            "a fit that does not converge has no meaningful pull",
        ),
        float(n_converged),
        fit=fit,
    )


def pull_statistics(pulls, values) -> dict:
    """Return the mean and width of the pulls and of the fitted values.

    NaN where there are too few seeds (none for a mean, one for a width).
    """
    import numpy as np

    pulls, values = np.asarray(pulls, dtype=float), np.asarray(values, dtype=float)

    def mean(x):
        return float(np.mean(x)) if len(x) else math.nan

    def std(x):
        return float(np.std(x, ddof=1)) if len(x) > 1 else math.nan

    return {
        "pull_mean": mean(pulls),
        "pull_std": std(pulls),
        "mean_fitted": mean(values),
        "std_fitted": std(values),
    }
