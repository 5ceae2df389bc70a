"""CTAO science use cases: one module each, found by `sat.usecases.registry`."""
