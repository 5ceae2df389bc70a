"""Jupyter server settings of the ctao-sat Jupyter image (JupyterLab and the Hub's).

Installed as ``/opt/ctao-sat/etc/jupyter/jupyter_server_config.py``, so that both
``jupyter lab`` and ``jupyterhub-singleuser`` read it. The image works offline:
nothing here may reach outside the container (no extension manager, no news, no
update check), and the launcher offers only the release's kernel. When the server
starts, the release's notebooks are copied into HOME (``~/ctao-sat-VERSION``),
never overwriting one the user changed (`sat.notebooks.copy_notebooks`).
"""

import sys
from pathlib import Path

from sat import notebooks

c = get_config()  # noqa: F821  (provided by Jupyter when it loads this file)

# In a container: listen on every interface of its network namespace, no browser.
c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = 8888
c.ServerApp.open_browser = False
# Offline: the extension manager without PyPI, no news feed, no update check.
c.LabApp.extension_manager = "readonly"
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
# One kernel: the release's (ipykernel's own "python3" is not offered).
c.KernelSpecManager.ensure_native_kernel = False
c.MultiKernelManager.default_kernel_name = notebooks.kernel_name()


def _copy_notebooks() -> None:
    # A read-only HOME (no volume, no tmpfs) must not stop the server: say why.
    folder = Path.home() / notebooks.default_folder()
    try:
        report = notebooks.copy_notebooks(folder)
    except Exception as error:  # reported, never fatal
        print(
            f"[ctao-sat] notebooks not copied into {folder}: {error}", file=sys.stderr
        )
        return
    kept = f", kept {len(report.kept)} you changed" if report.kept else ""
    print(f"[ctao-sat] notebooks of the release in {folder}{kept}", file=sys.stderr)


_copy_notebooks()
