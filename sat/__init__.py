"""ctao-sat: the CTAO Science Analysis Tools distribution, a thin layer on Gammapy.

Importing `sat` is cheap on purpose: it must not import the scientific stack, so
that `ctao-sat --help` starts instantly. Heavy imports live inside functions.
"""

from sat.stack import release_version

__version__ = release_version()

__all__ = ["__version__"]
