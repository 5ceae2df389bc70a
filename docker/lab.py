"""JupyterLab in a container, seen from the host: start, time, stop and browse it.

The Jupyter checks (``docker/jupyter.py``) start the image's default command
(JupyterLab) with podman, hardened and without network, and reach it from inside
the container's network namespace (``nsenter``): a small poller for its status,
Debian's headless Chromium for its page. The CPU time a start used comes from the
container's cgroup, which the load of a shared machine does not change.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from docker.common import OUT, UID, Failure, run
from docker.smoke import hardened

HOME = "/home/sat"  # the Jupyter image's HOME (docker/Dockerfile)
PORT = 8888
SCREENSHOT = OUT / "jupyter-lab.png"
CPU_S: dict[str, float | None] = {}  # container name -> CPU s until Lab answered


def container_pid(name: str) -> int:
    """Return the host PID of a running container's first process."""
    inspect = ["podman", "inspect", "-f", "{{.State.Pid}}", name]
    return int(run(inspect, capture=True, quiet=True).stdout.strip())


def in_netns(pid: int, command: list) -> list:
    """Run ``command`` (a host program) in the network namespace of ``pid``."""
    return ["nsenter", "-t", str(pid), "-n", *command]


POLL = """
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status == 200:
                sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
"""


def container_cpu_s(pid: int) -> float | None:
    """Return the CPU time (s) the container of ``pid`` used so far, from its cgroup.

    Unlike the wall time, it does not grow with the load of a shared machine.
    """
    cgroups = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    for line in cgroups:
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(","):  # cgroup v1 (this host: hybrid)
            usage = Path("/sys/fs/cgroup/cpuacct", path.lstrip("/"), "cpuacct.usage")
            return int(usage.read_text()) / 1e9 if usage.is_file() else None
    unified = next(line.split(":", 2)[2] for line in cgroups if line.startswith("0::"))
    stat = Path("/sys/fs/cgroup", unified.lstrip("/"), "cpu.stat")
    if not stat.is_file():
        return None
    fields = dict(line.split() for line in stat.read_text().splitlines())
    return int(fields["usage_usec"]) / 1e6


def start_detached(name: str, arguments: list) -> float:
    """Start container ``name``, hardened, in the background; replace an old one.

    ``arguments`` follow the options of ``podman run``: volumes, environment, the
    image and its command. Returns `time.perf_counter` when ``podman run`` was
    called, where a start-up time begins.
    """
    run(["podman", "rm", "-f", "-t", "0", name], capture=True, check=False, quiet=True)
    options = [o for o in hardened("podman") if o != "--rm"]
    start = time.perf_counter()
    run(["podman", *options, "-d", "--name", name, *arguments], capture=True)
    return start


def start_lab(tag: str, name: str, token: str, home: list, timeout=120.0):
    """Start JupyterLab (the image's command); return (pid, seconds until it answers).

    The time runs from ``podman run`` to ``/api/status`` answering 200 with the
    token, polled from inside the container's network namespace. The CPU time
    the container used until then goes to ``CPU_S[name]``.
    """
    start = start_detached(name, [*home, "-e", f"JUPYTER_TOKEN={token}", tag])
    pid = container_pid(name)
    url = f"http://127.0.0.1:{PORT}/api/status?token={token}"
    poll = in_netns(pid, [sys.executable, "-I", "-c", POLL, url, "5"])
    answered = False
    # Polls of 5 s, until it answers, the container exits, or the time is up.
    while not answered and time.perf_counter() - start < timeout:
        answered = subprocess.run(poll, check=False).returncode == 0
        if not answered and not running(name):
            break
    seconds = time.perf_counter() - start
    if answered:
        CPU_S[name] = container_cpu_s(pid)
    if not answered:
        logs = run(["podman", "logs", name], capture=True, check=False).stdout
        stop(name)
        raise Failure(f"JupyterLab did not answer ({seconds:.0f} s):\n{logs[-3000:]}")
    return pid, seconds


def running(name: str) -> bool:
    """Return True while container ``name`` runs."""
    inspect = ["podman", "inspect", "-f", "{{.State.Running}}", name]
    done = run(inspect, capture=True, check=False, quiet=True)
    return done.stdout.strip() == "true"


def stop(name: str) -> str:
    """Stop and remove a container; return its log."""
    logs = run(["podman", "logs", name], capture=True, check=False, quiet=True).stdout
    run(["podman", "rm", "-f", "-t", "2", name], capture=True, check=False, quiet=True)
    return logs


def owned_folder(path: Path) -> Path:
    """(Re)create ``path`` for the image's user (a HOME or output volume)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(path, UID, UID)
    else:
        path.chmod(0o777)
    return path


def browse(pid: int, url: str, profile: Path) -> tuple[str, list[str]]:
    """Open ``url`` in headless Chromium inside the netns of ``pid``.

    Returns the DOM after the page settled and every URL the page itself asked
    for (Chromium's network log: requests whose initiator is the page's origin,
    and the page itself); the screenshot goes to `SCREENSHOT`.
    """
    from sitecheck import chromium

    netlog = profile / "netlog.json"
    command = [
        *[chromium(), "--headless", "--no-sandbox", "--disable-gpu"],
        *["--disable-background-networking", "--disable-component-update"],
        *["--no-first-run", f"--user-data-dir={profile / 'profile'}"],
        *["--window-size=1280,800", "--virtual-time-budget=30000"],
        *[f"--log-net-log={netlog}", "--dump-dom", f"--screenshot={SCREENSHOT}", url],
    ]
    done = subprocess.run(
        in_netns(pid, command), capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise Failure(f"chromium failed on {url}: {done.stderr[-2000:]}")
    return done.stdout, page_requests(netlog, url)


def page_requests(netlog: Path, url: str) -> list[str]:
    """Every URL the page at ``url`` requested, from a Chromium network log."""
    origin = "/".join(url.split("/")[:3])
    events = json.loads(netlog.read_text())["events"]
    requested = []
    for event in events:
        params = event.get("params") or {}
        if "url" not in params or "initiator" not in params:
            continue
        # The browser's own services have no page initiator ("not an origin").
        if params["initiator"] == origin or params["url"].startswith(origin):
            requested.append(params["url"])
    return requested


def launcher_cards(dom: str, category: str) -> list[str]:
    """Titles of the launcher's cards of ``category`` (Notebook, Console...)."""
    pattern = r'<div class="jp-LauncherCard" title="([^"]*)"[^>]*data-category="{}"'
    return re.findall(pattern.format(re.escape(category)), dom)


def screenshot_figures(path: Path) -> dict:
    """Size and colour count of the screenshot (a blank page has one colour)."""
    from PIL import Image

    with Image.open(path) as picture:
        colours = picture.convert("RGB").getcolors(maxcolors=1 << 16)
        return {
            "width": picture.width,
            "height": picture.height,
            "colours": len(colours) if colours else 1 << 16,
        }
