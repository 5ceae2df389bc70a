"""ctao-sat's development package: verification and release tooling.

The requirements catalogue and test traceability, the quality gates, the
verification report, the SBOM, the release assembly and the upstream canary.
Maintainers run it from the repository (``python -m satdev``, the nox sessions);
it is never installed with ``sat``: not in the wheel, the conda packages or the
container image that scientists use.
"""

from satdev.catalogue import Catalogue, load_catalogue, unknown_ids

__all__ = ["Catalogue", "load_catalogue", "unknown_ids"]
