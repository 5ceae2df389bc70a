"""Datasets: where they live (``GAMMAPY_DATA``), what they hold, how to get them.

Importing this package is cheap (no yaml, no numpy): the registry is read on first
use. `sat.data.verify` checks files by SHA-256, `sat.data.download` fetches them,
`sat.data.manifest` regenerates the checksum manifest.
"""

from sat.data.registry import (
    DataFile,
    Dataset,
    ReferenceSet,
    datasets,
    gammapy_data,
    licences,
    reference_folder,
    references,
    require,
    select,
    sources,
)

__all__ = [
    "DataFile",
    "Dataset",
    "ReferenceSet",
    "datasets",
    "gammapy_data",
    "licences",
    "reference_folder",
    "references",
    "require",
    "select",
    "sources",
]
