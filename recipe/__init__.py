"""Build, index, solve and install the ctao-sat conda packages (``nox -s conda``).

`generate` writes the recipe's pinned values from ``sat/pins.toml`` and checks that
the recipe, ``environment.yml`` and built packages agree with the pins; `channel`
makes the offline channel of real PyPI wheels; `install` solves, locks, installs and
runs the recipe tests in a prefix; `build` chooses the route and runs it all.
"""


class CondaError(RuntimeError):
    """A step of the conda build, channel, solve or install failed (one message)."""
