"""The coverage test's verdicts: limits at or above the truth, pulls."""

from __future__ import annotations

import math

from sat.usecases.dark_matter.config import DarkMatterLimitsConfig
from sat.validation import Reference, compare

# A binomial fraction (the coverage) and the pulls must lie within 3 sigma: one
# false alarm in 370 runs per check.
N_SIGMA = 3.0


def _coverage_checks(config: DarkMatterLimitsConfig, table) -> tuple[list, dict]:
    """Verdicts of the coverage test and its statistics, per hypothesis."""
    import numpy as np

    from sat.validation import converged_check, pull_checks

    level = config.confidence_level
    converged = table[table["success"]]
    validation = [converged_check(len(table), len(converged), "every simulation")]
    statistics = {}
    labels = {"background": "zero signal", "injected": "injected signal"}
    for hypothesis, label in labels.items():
        rows = converged[converged["hypothesis"] == hypothesis]
        n = len(rows)
        if n == 0:
            continue
        covered = int(np.sum(rows["covered"]))
        error = math.sqrt(level * (1 - level) / n)
        validation.append(
            compare(
                Reference(
                    f"coverage of the {label}",
                    level,
                    error,
                    "",
                    f"confidence level of the limit; {n} simulations",
                    N_SIGMA,
                    f"the fraction of {n} limits at or above the true <sigma v> is "
                    f"binomial around the confidence level {level:g} (error "
                    f"{error:.3f}) if the limit is right; 3 sigma",
                ),
                covered / n,
            )
        )
        pulls = np.asarray(rows["pull"])
        validation += pull_checks(f"<sigma v> ({label})", pulls)
        statistics[hypothesis] = {
            "n": n,
            "covered": covered,
            "fraction": covered / n,
            "truth": float(rows["true_sigma_v"][0]),
            "pull_mean": float(np.mean(pulls)),
            "pull_std": float(np.std(pulls, ddof=1)) if n > 1 else float("nan"),
            "median_ul": float(np.median(rows["sigma_v_ul"])),
        }
    return validation, statistics
