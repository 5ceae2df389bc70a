"""CTAO's published Galactic-centre sensitivity: when it applies, the check."""

from __future__ import annotations

import math

from sat.usecases.dark_matter.config import (
    SIGMA_V_UNIT,
    THERMAL_SIGMA_V,
    DarkMatterLimitsConfig,
)
from sat.validation import Reference, compare

PUBLISHED_SOURCE = (
    "CTA Consortium (Acharyya et al. 2021, JCAP 01, 057, arXiv:2007.16129), "
    "Galactic-centre survey, Einasto profile; summarised in Eckner et al. 2021, "
    "PoS(ICRC2021)547: 'reaching the thermal annihilation cross-section at ~1 TeV'"
)
PUBLISHED_MASS_TEV = 1.0
PUBLISHED_SIGMA_V = THERMAL_SIGMA_V
PUBLISHED_PROFILE = "einasto"
PUBLISHED_CHANNEL = "W"
# The published projection is for about 500 h (the 525 h inner-Galaxy survey);
# within this range the limit changes by less than sqrt(2).
PUBLISHED_LIVETIME_H = (250.0, 1000.0)
# Half a decade: the published projection has the Galactic diffuse emission as a
# background, instrumental and template systematics and the survey's pointing
# pattern; this simulation has the IRF background and statistics only (so it
# expects a lower limit, by a factor of a few), and "~1 TeV reaches the thermal
# value" is itself a round statement. A factor 10 error (a J-factor off by 10,
# a wrong unit) moves the limit a full decade and fails.
PUBLISHED_LOG10_TOLERANCE = 0.5


def reference_applies(config: DarkMatterLimitsConfig) -> str | None:
    """Return why the published sensitivity does not apply, or None when it does."""
    low, high = PUBLISHED_LIVETIME_H
    if config.halo.profile != PUBLISHED_PROFILE:
        return f"the published sensitivity is for Einasto, not {config.halo.profile}"
    if config.channel != PUBLISHED_CHANNEL:
        return f"the published sensitivity is for W+W-, not {config.channel}"
    if not low <= config.livetime_h <= high:
        return (
            f"the published sensitivity is for about 500 h ({low:g} to {high:g} h "
            f"accepted), not {config.livetime_h:g} h"
        )
    if not any(math.isclose(m, PUBLISHED_MASS_TEV) for m in config.masses_tev):
        return "masses_tev does not include the published mass (1 TeV)"
    return None


def _published_check(expected_ul: float) -> dict:
    """Compare the expected limit at 1 TeV with CTAO's published sensitivity."""
    return compare(
        Reference(
            "log10 expected <sigma v> limit at 1 TeV",
            math.log10(PUBLISHED_SIGMA_V),
            PUBLISHED_LOG10_TOLERANCE,
            f"log10({SIGMA_V_UNIT})",
            PUBLISHED_SOURCE,
            1.0,
            "order of magnitude: the published projection adds the diffuse "
            "emission, systematics and the survey pattern (a higher limit by a "
            "factor of a few); half a decade accepts that and fails a J-factor or "
            "a unit wrong by 10",
        ),
        math.log10(expected_ul) if expected_ul > 0 else float("nan"),
    )
