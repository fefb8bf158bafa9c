"""A Label Studio server for the review tests: its own virtual environment, data folder, users and tokens.

Label Studio (the server, 1.23.x) pins `openai < 2` and `pyarrow < 25`, which conflict with medjudge's own
dependencies, so it never goes into the project's environment. This module creates a separate virtual environment
for it once and reuses it:

    python -m tests.label_studio_env ensure     # create (or check) the environment; prints its path and timings
    python -m tests.label_studio_env serve      # start a server on 127.0.0.1 and print its URL and token (Ctrl-C)

The environment lives at `$MEDJUDGE_LABEL_STUDIO_VENV`, else `~/.cache/medjudge/label-studio-venv`.
`MEDJUDGE_SKIP_LABEL_STUDIO=1` is the only way to skip the tests that need it; otherwise a missing or broken
environment fails them with the error of the step that failed.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

LABEL_STUDIO_SPEC = "label-studio==1.23.*"
"""The server release the review loop is tested against."""
VENV_ENV = "MEDJUDGE_LABEL_STUDIO_VENV"
"""Environment variable: where the server's virtual environment lives."""
SKIP_ENV = "MEDJUDGE_SKIP_LABEL_STUDIO"
"""Environment variable: set to 1 to skip the tests that need a Label Studio server."""


def venv_path() -> Path:
    """The Label Studio virtual environment's folder."""
    env = os.environ.get(VENV_ENV)
    if env:
        return Path(env).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "medjudge" / "label-studio-venv"


def executable(venv: Path | None = None) -> Path:
    """The `label-studio` command of the environment."""
    return (venv or venv_path()) / "bin" / "label-studio"


def ensure(venv: Path | None = None, quiet: bool = True) -> dict[str, float]:
    """Create the environment and install Label Studio into it, unless it is already there; returns timings (s)."""
    venv = venv or venv_path()
    timings: dict[str, float] = {}
    marker = venv / ".medjudge-installed"
    if marker.exists() and executable(venv).exists():
        return timings
    t0 = time.perf_counter()
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    timings["venv_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", *(["-q"] if quiet else []), LABEL_STUDIO_SPEC]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"installing {LABEL_STUDIO_SPEC} into {venv} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    timings["install_s"] = time.perf_counter() - t1
    marker.write_text(LABEL_STUDIO_SPEC + "\n", encoding="utf-8")
    return timings


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabelStudioServer:
    """A Label Studio server on 127.0.0.1 with its own data folder, an admin user and a legacy API token."""

    def __init__(self, data_dir: Path, admin: str = "admin@medjudge.test", token: str | None = None,
                 port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin = admin
        self.token = token or secrets.token_hex(20)
        self.password = secrets.token_hex(12)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.data_dir / "label-studio.log"
        self.startup_s = 0.0

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO_"))}
        return env | {"LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir), "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
                      "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "COLLECT_ANALYTICS": "false"}

    def start(self, timeout_s: float = 180.0) -> LabelStudioServer:
        """Start the server and wait until it answers /health and knows the admin's token."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        cmd = [str(executable()), "start", "--no-browser", "--host", self.url, "--internal-host", "127.0.0.1",
               "--port", str(self.port), "--data-dir", str(self.data_dir), "--username", self.admin,
               "--password", self.password, "--user-token", self.token, "--enable-legacy-api-token"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        while time.perf_counter() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"label-studio exited with {self.proc.returncode}; log {self.log}:\n"
                                   f"{self.log.read_text(errors='replace')[-3000:]}")
            if self._ready():
                self.startup_s = time.perf_counter() - t0
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"label-studio did not answer on {self.url} within {timeout_s:.0f} s; log {self.log}")

    def _ready(self) -> bool:
        req = urllib.request.Request(f"{self.url}/api/current-user/whoami",
                                     headers={"Authorization": f"Token {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def add_user(self, email: str, token: str | None = None) -> str:
        """Create another user of the organisation with a legacy token (no prompt); returns the token."""
        token = token or secrets.token_hex(20)
        cmd = [str(executable()), "init", "--data-dir", str(self.data_dir), "--username", email,
               "--password", secrets.token_hex(12), "--user-token", token, "--quiet"]
        proc = subprocess.run(cmd, env=self._env(), capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"creating Label Studio user {email} failed: {proc.stderr[-2000:]}")
        return token

    def stop(self) -> None:
        """Stop the server (its whole process group)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> LabelStudioServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    """`ensure` or `serve` (see the module doc)."""
    import json
    import tempfile

    if not argv or argv[0] not in ("ensure", "serve"):
        print(__doc__)
        return 2
    print(json.dumps({"venv": str(venv_path()), **ensure(quiet=False)}), flush=True)
    if argv[0] == "serve":
        with tempfile.TemporaryDirectory() as tmp, LabelStudioServer(Path(tmp) / "data") as server:
            print(json.dumps({"url": server.url, "token": server.token, "startup_s": round(server.startup_s, 1)}),
                  flush=True)
            try:
                while server.proc is not None and server.proc.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
