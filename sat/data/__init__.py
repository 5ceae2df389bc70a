"""Datasets: where they live (``GAMMAPY_DATA``), what they hold, how to get them."""

from sat.data.registry import Dataset, datasets, gammapy_data, require

__all__ = ["Dataset", "datasets", "gammapy_data", "require"]
