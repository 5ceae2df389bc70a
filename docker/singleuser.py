"""Step 7 of the Jupyter checks: ``jupyterhub-singleuser`` as a Hub spawns it.

Zero-to-JupyterHub starts the image's ``jupyterhub-singleuser`` with the Hub's
environment; here a stand-in for the Hub API (the two calls a single-user server
makes) runs in the container's network namespace, and the server must answer its
owner's token.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time

from docker.lab import HOME, PORT, container_pid, in_netns, start_detached, stop
from docker.record import Record
from sat import stack

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


def singleuser_check(tag: str, record: Record) -> None:
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
    variables = [f"--env={key}={value}" for key, value in env.items()]
    home = ["--tmpfs", f"{HOME}:rw,U"]
    start = start_detached(name, [*home, *variables, tag, CMD])
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
        record.add(
            "singleuser_server_starts",
            ok and "JupyterHubSingleUser" in logs,
            f"jupyterhub-singleuser answered its owner's token at {prefix}api/status "
            f"after {seconds:.1f} s ({started.strip()[-80:]})"
            if ok
            else f"no answer: {done.stdout[-200:]} {logs[-1500:]}",
            seconds=seconds,
        )
    finally:
        stop(name)
        if hub is not None:
            hub.terminate()
            hub.wait(timeout=10)


def stack_version(name: str) -> str:
    """Return the pinned version of ``name`` in the Jupyter extra."""
    return next(p.version for p in stack.extra_pins("jupyter") if p.name == name)
