"""Level C verification: the requirements catalogue and test traceability."""

from sat.verification.catalogue import Catalogue, load_catalogue, unknown_ids

__all__ = ["Catalogue", "load_catalogue", "unknown_ids"]
