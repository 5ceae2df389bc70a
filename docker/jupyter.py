"""The Jupyter image: build it, open JupyterLab in Chromium, run every notebook in it.

``nox -s container`` runs this after ``docker/build.py`` (``python docker/jupyter.py``;
it also runs alone). On podman, daemonless, every container has no network:

1. build the ``jupyter`` target of docker/Dockerfile (tag ``VERSION-jupyter``): the
   analysis image plus one layer (docker/jupyter/layer.py);
2. ``ctao-sat doctor`` in it: the Jupyter extra's pins and the release kernel;
3. start JupyterLab (its default command) read-only, as non-root, without network,
   HOME on a volume; Debian's headless Chromium, run inside the container's network
   namespace (``nsenter``), opens ``/lab`` with the token, saves a screenshot of
   the launcher (``build/container/jupyter-lab.png``), and its DOM must show the
   release kernel as the only kernel; Chromium's network log must show that the
   page fetched nothing but the server itself (no CDN, news, extension index);
4. the notebooks the server copied into HOME, and an edited one kept on restart;
5. JupyterLab's start-up time, from ``podman run`` to ``/api/status`` answering,
   ``jupyter_lab_starts`` times (satdev/gates.yaml; HOME on a tmpfs);
6. every shipped notebook executed inside the image with nbclient (read-only root,
   /tmp and HOME on tmpfs, offline): no cell may raise, every validation must pass;
7. ``jupyterhub-singleuser`` starts against the Hub API it is given;
8. the OCI archive ``build/container/ctao-sat-VERSION-jupyter.oci.tar``.

Each check is written as evidence (``build/evidence/jupyter.xml``, requirement ids
C-SAT-0270..0274), the figures to ``build/container/jupyter.json`` (a benchmark
result: image sizes, start-up, notebook times, budgets of satdev/gates.yaml). A
budget missed fails its check and the benchmarks gate, not this session: the
image works, the verification says what it costs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script: the repository, not this folder, is where imports start.
if not __package__:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from docker import base, common, engine, image
from docker.common import OUT, ROOT, UID, Failure, log, run
from docker.smoke import hardened
from sat import notebooks, stack
from satdev.evidence import EVIDENCE_DIR, Check, write_junit

SESSION = "jupyter"
FILES = ROOT / "docker" / "jupyter"
SCREENSHOT = OUT / "jupyter-lab.png"
RECORD = OUT / "jupyter.json"
EXECUTED = OUT / "notebooks"
EVIDENCE = ROOT / "build" / EVIDENCE_DIR / f"{SESSION}.xml"
HOME = "/home/sat"  # the Jupyter image's HOME (docker/Dockerfile)
PORT = 8888
CPU_S: dict[str, float | None] = {}  # container name -> CPU s until Lab answered

# Every check, in run order -> the requirement ids it is evidence for.
IMAGE, NOTEBOOKS, COPY, HUB, BUDGET = (
    ("C-SAT-0270",),
    ("C-SAT-0271",),
    ("C-SAT-0272",),
    ("C-SAT-0273",),
    ("C-SAT-0274",),
)
CHECKS = {
    "jupyter_image_builds": IMAGE,
    "doctor_checks_jupyter_pins_and_kernel": IMAGE,
    "lab_starts_read_only_offline_non_root": IMAGE,
    "launcher_shows_the_release_kernel_only": IMAGE,
    "lab_fetches_nothing_from_outside": IMAGE,
    "notebooks_copied_into_home_on_start": COPY,
    "edited_notebook_kept_on_restart": COPY,
    "notebooks_execute_in_the_image": NOTEBOOKS,
    "notebook_results_validate": NOTEBOOKS,
    "singleuser_server_starts": HUB,
    "jupyter_adds_within_size_budget": BUDGET,
    "lab_answers_within_start_budget": BUDGET,
    "jupyter_archive_exported": IMAGE,
}
USECASE = ("SUSS-UC-SAT-170",)
BENCHMARK = "container:jupyter"  # its figures in the bench record (budgets)


class Evidence:
    """The checks of this run, written as JUnit whatever happens."""

    def __init__(self):
        self.checks: dict[str, Check] = {}

    def add(self, name, passed, message="", seconds=0.0, **figures) -> bool:
        """Record check ``name`` (one of `CHECKS`); return ``passed``."""
        usecases = USECASE if name.startswith("notebook") else ()
        self.checks[name] = Check(
            name,
            bool(passed),
            requirements=CHECKS[name],
            usecases=usecases,
            message=message,
            seconds=round(seconds, 1),
            figures=figures,
        )
        log(f"{'PASS' if passed else 'FAIL'} {name}: {message}")
        return bool(passed)

    def write(self, why_missing: str) -> Path:
        """Write every check; those never reached fail, saying why."""
        checks = [
            self.checks.get(name)
            or Check(name, False, requirements=ids, message=f"not run: {why_missing}")
            for name, ids in CHECKS.items()
        ]
        return write_junit(EVIDENCE, SESSION, checks, root=ROOT)


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


def start_lab(tag: str, name: str, token: str, home: list, timeout=120.0):
    """Start JupyterLab (the image's command); return (pid, seconds until it answers).

    The time runs from ``podman run`` to ``/api/status`` answering 200 with the
    token, polled from inside the container's network namespace. The CPU time
    the container used until then goes to ``CPU_S[name]``.
    """
    run(["podman", "rm", "-f", "-t", "0", name], capture=True, check=False, quiet=True)
    options = [o for o in hardened("podman") if o != "--rm"]
    start = time.perf_counter()
    run(
        [
            *["podman", *options, "-d", "--name", name, *home],
            *["-e", f"JUPYTER_TOKEN={token}", tag],
        ],
        capture=True,
    )
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


def lab_check(tag: str, evidence: Evidence, record: dict) -> None:
    """Open JupyterLab in Chromium; check the notebooks in HOME (steps 3 and 4)."""
    token = secrets.token_hex(16)
    home = owned_folder(OUT / "jupyter-home")
    volume = ["-v", f"{home}:{HOME}"]
    name = "ctao-sat-jupyter-lab"
    pid, seconds = start_lab(tag, name, token, volume)
    try:
        probe = run(
            [
                *["podman", "exec", name, "/bin/sh", "-c"],
                f'test "$(id -u)" = {UID} && ! touch /opt/ctao-sat/x 2>/dev/null'
                " && echo non-root, read-only root",
            ],
            capture=True,
            check=False,
        )
        interfaces = sorted(os.listdir(f"/proc/{pid}/root/sys/class/net"))
        evidence.add(
            "lab_starts_read_only_offline_non_root",
            probe.returncode == 0 and interfaces == ["lo"],
            f"answered after {seconds:.1f} s; {probe.stdout.strip()}; "
            f"interfaces {interfaces}",
            seconds,
        )
        with tempfile.TemporaryDirectory(prefix="sat-chromium-") as scratch:
            url = f"http://127.0.0.1:{PORT}/lab?token={token}"
            dom, requested = browse(pid, url, Path(scratch))
        notebook_cards = launcher_cards(dom, "Notebook")
        shot = screenshot_figures(SCREENSHOT)
        folder = notebooks.default_folder()
        evidence.add(
            "launcher_shows_the_release_kernel_only",
            notebook_cards == [notebooks.kernel_display_name()]
            and folder in dom
            and shot["colours"] > 16,
            f"launcher notebook kernels {notebook_cards}, file browser shows "
            f"{folder}: {folder in dom}; screenshot {SCREENSHOT.relative_to(ROOT)} "
            f"({shot['width']}x{shot['height']}, {shot['colours']} colours)",
            **shot,
        )
        origin = f"http://127.0.0.1:{PORT}"
        outside = sorted({u for u in requested if not u.startswith(origin)})
        websocket = f"ws://127.0.0.1:{PORT}"
        outside = [u for u in outside if not u.startswith(websocket)]
        evidence.add(
            "lab_fetches_nothing_from_outside",
            requested and not outside,
            f"{len(requested)} requests, all to the server"
            if not outside
            else f"fetched from outside: {outside[:5]}",
            requests=len(requested),
            outside=len(outside),
        )
    finally:
        logs = stop(name)
    copied = sorted(p.name for p in (home / notebooks.default_folder()).glob("*.ipynb"))
    evidence.add(
        "notebooks_copied_into_home_on_start",
        copied == sorted(notebooks.shipped()),
        f"{len(copied)} notebooks in ~/{notebooks.default_folder()}",
    )
    # The user edits one; the next start keeps it.
    edited = home / notebooks.default_folder() / "joint-crab.ipynb"
    mine = edited.read_text().replace("Joint fit", "My joint fit", 1)
    edited.write_text(mine)
    _, again = start_lab(tag, name, token, volume)
    logs = stop(name)
    evidence.add(
        "edited_notebook_kept_on_restart",
        edited.read_text() == mine and "kept 1 you changed" in logs,
        f"restarted in {again:.1f} s; the server said: "
        + next((line for line in logs.splitlines() if "[ctao-sat]" in line), "-"),
    )
    record["lab_log"] = logs.splitlines()[-20:]


def start_times(tag: str, record: dict) -> list[float]:
    """Step 5: podman run -> /api/status, timed repeatedly, HOME on a tmpfs.

    As many starts as gates.yaml's ``jupyter_lab_starts``: the budget is judged
    on the median's interval, which needs 5 for 90 % (3 give 75 %: NOT
    RESOLVABLE whatever the times).
    """
    from satdev.gates import load_thresholds

    starts = load_thresholds()["benchmarks"]["jupyter_lab_starts"]
    times, cpu_times = [], []
    tmpfs = ["--tmpfs", f"{HOME}:rw,U"]
    for number in range(starts):
        name = f"ctao-sat-jupyter-start-{number}"
        _, seconds = start_lab(tag, name, secrets.token_hex(8), tmpfs)
        stop(name)
        times.append(round(seconds, 2))
        cpu = CPU_S.get(name)
        cpu_times.append(None if cpu is None else round(cpu, 2))
        log(f"JupyterLab answered after {seconds:.2f} s, {cpu} s of CPU ({number + 1})")
    record["lab_ready_s"] = times
    record["lab_ready_cpu_s"] = cpu_times
    return times


def execute_notebooks(tag: str, data: Path, evidence: Evidence, record: dict):
    """Step 6: every shipped notebook, executed inside the image with nbclient."""
    out = owned_folder(EXECUTED)
    script = FILES / "execute.py"
    command = [
        *["nice", "-n", "10", "podman", *hardened("podman")],
        *["-v", f"{data}:/data:ro", "--tmpfs", f"{HOME}:rw,U"],
        *["-v", f"{out}:/out", "-v", f"{script}:/ctao-sat-check/execute.py:ro"],
        *[tag, "python", "/ctao-sat-check/execute.py", "/out"],
    ]
    start = time.perf_counter()
    done = run(command, capture=True, check=False, timeout=4 * 3600)
    seconds = time.perf_counter() - start
    print(done.stdout, flush=True)
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    record["notebooks"] = summary
    failed = [f"{n}: {r['error']}" for n, r in summary.items() if not r["ok"]]
    shipped = sorted(notebooks.shipped())
    evidence.add(
        "notebooks_execute_in_the_image",
        done.returncode == 0 and sorted(summary) == shipped and not failed,
        f"{len(summary)} of {len(shipped)} notebooks executed in {seconds:.0f} s, "
        f"kernel {sorted({r['kernel'] for r in summary.values()})}"
        + (f"; failed: {failed}" if failed else "")
        + f"; executed copies in {out.relative_to(ROOT)}",
        seconds,
        **{n.removesuffix(".ipynb"): r["seconds"] for n, r in summary.items()},
    )
    bad = {
        n: r["verdicts"] for n, r in summary.items() if set(r["verdicts"]) - {"PASS"}
    }
    without = [n for n, r in summary.items() if not r["verdicts"]]
    evidence.add(
        "notebook_results_validate",
        summary and not bad and not without,
        f"every validation check PASS in {len(summary)} notebooks"
        if summary and not bad and not without
        else f"not PASS: {bad}; no result.json: {without}",
    )


def main(argv=None) -> int:
    """Build, check, time and export the Jupyter image; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--route", choices=["auto", "docker", "podman", "podman-local"], default="auto"
    )
    parser.add_argument("--skip-notebooks", action="store_true", help="no step 6")
    options = parser.parse_args(argv)
    common.SESSION["name"] = SESSION  # its progress lines say [jupyter]
    data = Path(os.environ.get("GAMMAPY_DATA", ""))
    if not os.environ.get("GAMMAPY_DATA") or not data.is_dir():
        log("GAMMAPY_DATA is not set to the data folder: export GAMMAPY_DATA=...")
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    evidence, record = Evidence(), {"version": stack.release_version(), "timings_s": {}}
    record["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    why = "an earlier step failed"
    try:
        context = image.write_context(OUT / "context", data)
        route = engine.choose_route(options.route)
        if route == "docker":
            why = "these checks run on podman (nsenter into the container)"
            raise Failure(f"route {route}: {why}")
        engine.ensure_podman(record)
        if route == "podman-local":
            base_image = base.make_base_image(record, False)
        else:
            base_image = base.PUBLIC_BASE
        args = image.build_args(base_image, record["date"])
        analysis = image.build("podman", route, context, args, cache=True)
        start = time.perf_counter()
        try:
            tag = image.build(
                "podman", route, context, args, cache=True, target="jupyter"
            )
        except Failure as error:
            evidence.add("jupyter_image_builds", False, str(error).splitlines()[0])
            raise
        sizes = {
            "analysis": image.image_facts("podman", analysis)["size_bytes"],
            "jupyter": image.image_facts("podman", tag)["size_bytes"],
        }
        lines = (OUT / "build-jupyter.log").read_text().splitlines()
        layer = next((line for line in lines if line.startswith("layer.py:")), "")
        # What each cut of docker/jupyter/layer.py left out (bytes, files).
        cuts = next((ln for ln in lines if ln.startswith("layer.py cuts:")), "")
        record["layer_cuts"] = json.loads(cuts.split(":", 1)[1]) if cuts else {}
        evidence.add(
            "jupyter_image_builds",
            True,
            f"{tag}: {sizes['jupyter'] / 1e6:.0f} MB; {layer}",
            time.perf_counter() - start,
        )
        record.update(tag=tag, size_bytes=sizes)
        doctor_check(tag, data, evidence, record)
        lab_check(tag, evidence, record)
        start_times(tag, record)
        if not options.skip_notebooks:
            execute_notebooks(tag, data, evidence, record)
        singleuser_check(tag, evidence)
        budgets(sizes, record, evidence)
        export(tag, evidence, record)
    except Failure as error:
        log(f"FAILED: {error}")
    finally:
        write_record(record)
        path = evidence.write(why)
        log(f"evidence {path.relative_to(ROOT)}, figures {RECORD.relative_to(ROOT)}")
    # A budget missed is a verdict of the verification (evidence, bench record),
    # not a broken image: it does not fail this session.
    failed = [
        c.name
        for c in evidence.checks.values()
        if not c.passed and CHECKS[c.name] != BUDGET
    ]
    missing = [name for name in CHECKS if name not in evidence.checks]
    if options.skip_notebooks:
        missing = [n for n in missing if not n.startswith("notebook")]
    return 1 if failed or missing else 0


def doctor_check(tag: str, data: Path, evidence: Evidence, record: dict) -> None:
    """Step 2: ``ctao-sat doctor`` in the Jupyter image (read-only, offline)."""
    command = ["podman", *hardened("podman"), "-v", f"{data}:/data:ro", tag]
    done = run([*command, "ctao-sat", "doctor"], capture=True, check=False)
    line = next((row for row in done.stdout.splitlines() if "extra jupyter" in row), "")
    record["doctor"] = done.stdout.strip().splitlines()
    evidence.add(
        "doctor_checks_jupyter_pins_and_kernel",
        done.returncode == 0
        and line.startswith("PASS")
        and f"kernel {notebooks.kernel_name()} installed" in line,
        " ".join(line.split()) or done.stdout[-300:],
    )


# A stand-in for the two Hub API calls a single-user server makes: the version
# check at start and the owner's token lookup (Z2JH runs the real Hub).
HUB = """
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
token, version = sys.argv[1:3]
USER = {"kind": "user", "name": "sat", "admin": False, "groups": [],
        "scopes": ["access:servers!user=sat"], "session_id": None}

class Hub(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.rstrip("/") == "/hub/api":
            body = {"version": version}
        elif (self.path.startswith("/hub/api/user")
              and self.headers.get("Authorization") == "token " + token):
            body = USER
        else:
            self.send_response(403)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-JupyterHub-Version", version)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", 8081), Hub).serve_forever()
"""
ASK = """
import sys, time, urllib.request
url, token, deadline = sys.argv[1], sys.argv[2], time.monotonic() + 120
request = urllib.request.Request(url, headers={"Authorization": "token " + token})
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            print(answer.status, answer.read().decode())
            sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
"""


CMD = "jupyterhub-singleuser"  # Zero-to-JupyterHub's singleuser.cmd


def singleuser_check(tag: str, evidence: Evidence) -> None:
    """Step 7: ``jupyterhub-singleuser`` as a Hub spawns it, answering its owner."""
    name, token = "ctao-sat-jupyter-singleuser", secrets.token_hex(16)
    prefix = "/user/sat/"
    env = {
        "JUPYTERHUB_API_TOKEN": secrets.token_hex(16),
        "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api",
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_SERVICE_PREFIX": prefix,
        "JUPYTERHUB_USER": "sat",
        "JUPYTERHUB_CLIENT_ID": "jupyterhub-user-sat",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{prefix}oauth_callback",
        "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:{PORT}{prefix}",
        # Who may use the server: the Hub passes its owner's access scopes.
        "JUPYTERHUB_OAUTH_ACCESS_SCOPES": json.dumps(
            ["access:servers!server=sat/", "access:servers!user=sat"]
        ),
    }
    run(["podman", "rm", "-f", "-t", "0", name], capture=True, check=False, quiet=True)
    options = [o for o in hardened("podman") if o != "--rm"]
    variables = [f"--env={key}={value}" for key, value in env.items()]
    home = ["--tmpfs", f"{HOME}:rw,U"]
    start = time.perf_counter()
    run(
        [*["podman", *options, "-d", "--name", name, *home, *variables], tag, CMD],
        capture=True,
    )
    hub = None
    try:
        pid = container_pid(name)
        version = stack_version("jupyterhub")
        hub = subprocess.Popen(
            in_netns(pid, [sys.executable, "-I", "-c", HUB, token, version])
        )
        url = f"http://127.0.0.1:{PORT}{prefix}api/status"
        ask = [sys.executable, "-I", "-c", ASK, url, token]
        done = subprocess.run(in_netns(pid, ask), capture_output=True, text=True)
        seconds = time.perf_counter() - start
        logs = stop(name)
        ok = done.returncode == 0 and done.stdout.startswith("200")
        started = next(
            (line for line in logs.splitlines() if "single-user server" in line), ""
        )
        evidence.add(
            "singleuser_server_starts",
            ok and "JupyterHubSingleUser" in logs,
            f"jupyterhub-singleuser answered its owner's token at {prefix}api/status "
            f"after {seconds:.1f} s ({started.strip()[-80:]})"
            if ok
            else f"no answer: {done.stdout[-200:]} {logs[-1500:]}",
            seconds,
        )
    finally:
        stop(name)
        if hub is not None:
            hub.terminate()
            hub.wait(timeout=10)


def stack_version(name: str) -> str:
    """Return the pinned version of ``name`` in the Jupyter extra."""
    return next(p.version for p in stack.extra_pins("jupyter") if p.name == name)


def budgets(sizes: dict, record: dict, evidence: Evidence) -> None:
    """Size and start-up against satdev/gates.yaml (goals: never loosened)."""
    from satdev.gates import load_thresholds

    limits = load_thresholds()["benchmarks"]
    added_mb = (sizes["jupyter"] - sizes["analysis"]) / 1e6
    # Goal checks: each names the benchmark budget it measures, with its value,
    # so that a waiver of that budget covers it too (satdev.waivers).
    evidence.add(
        "jupyter_adds_within_size_budget",
        added_mb <= limits["jupyter_added_mb"],
        f"the Jupyter image adds {added_mb:.0f} MB to the analysis image's "
        f"{sizes['analysis'] / 1e6:.0f} MB (budget {limits['jupyter_added_mb']} MB)",
        benchmark=BENCHMARK,
        metric="jupyter_added_mb",
        jupyter_added_mb=round(added_mb, 1),
        limit_mb=limits["jupyter_added_mb"],
    )
    times = record.get("lab_ready_s", [])
    median = statistics.median(times) if times else None
    evidence.add(
        "lab_answers_within_start_budget",
        median is not None and median <= limits["jupyter_lab_ready_s"],
        f"podman run -> /api/status: median {median:.2f} s of {times} "
        f"(budget {limits['jupyter_lab_ready_s']} s, {os.cpu_count()} CPUs)"
        if times
        else "no start measured",
        benchmark=BENCHMARK,
        metric="lab_ready_s",
        lab_ready_s=median,
        limit_s=limits["jupyter_lab_ready_s"],
    )
    record["bench"] = {
        "name": BENCHMARK,
        "kind": "jupyter",
        "samples": {"lab_ready_s": times},
        "metrics": {
            "analysis_image_mb": round(sizes["analysis"] / 1e6, 1),
            "jupyter_image_mb": round(sizes["jupyter"] / 1e6, 1),
            "jupyter_added_mb": round(added_mb, 1),
            "lab_ready_s": median,
            "lab_ready_min_s": min(times, default=None),
            "lab_ready_max_s": max(times, default=None),
            "lab_ready_runs": len(times),
            # CPU of the container until it answered: what the load does not change
            "lab_ready_cpu_s": _median(record.get("lab_ready_cpu_s", [])),
            "notebooks_s": round(
                sum(r["seconds"] for r in record.get("notebooks", {}).values()), 1
            ),
        },
    }


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def export(tag: str, evidence: Evidence, record: dict) -> None:
    """Step 8: the OCI archive the release ships next to the analysis image's."""
    archive = OUT / f"ctao-sat-{stack.release_version()}-jupyter.oci.tar"
    archive.unlink(missing_ok=True)
    start = time.perf_counter()
    run(
        [
            "skopeo",
            "copy",
            f"containers-storage:{tag}",
            f"oci-archive:{archive}:{tag.split('/')[-1]}",
        ]
    )
    inspect = ["skopeo", "inspect", f"oci-archive:{archive}"]
    digest = json.loads(run(inspect, capture=True, quiet=True).stdout)["Digest"]
    record["archive"] = {
        "path": str(archive.relative_to(ROOT)),
        "size_bytes": archive.stat().st_size,
        "manifest_digest": digest,
    }
    evidence.add(
        "jupyter_archive_exported",
        archive.stat().st_size > 0,
        f"{archive.relative_to(ROOT)}: {archive.stat().st_size / 1e6:.0f} MB, {digest}",
        time.perf_counter() - start,
    )


def write_record(record: dict) -> None:
    """Write the figures of this run (``jupyter.json``) and print them."""
    RECORD.write_text(json.dumps(record, indent=2, default=str) + "\n")
    metrics = record.get("bench", {}).get("metrics", {})
    for key, value in metrics.items():
        log(f"{key:20s} {value}")


if __name__ == "__main__":
    sys.path.insert(1, str(ROOT / "docs" / "_ext"))  # sitecheck: Debian's Chromium
    sys.exit(main())
