"""A real OpenAI-compatible chat-completions HTTP server on 127.0.0.1 for offline tests and benchmarks.

The server speaks HTTP/1.1 on a random port; a `responder` callable decides each reply from the
request body, so tests can script verdicts, invalid JSON, HTTP errors, stalls and truncated bodies.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Fault:
    """An HTTP-level fault to inject instead of a normal reply."""

    status: int = 500
    """HTTP status code to send."""
    body: str = '{"error": {"message": "injected fault", "type": "server_error"}}'
    """Raw response body."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra headers, e.g. Retry-After."""
    stall_s: float = 0.0
    """Sleep this long before answering (to trigger client timeouts)."""
    truncate: bool = False
    """Announce a longer Content-Length than sent and close the connection."""


@dataclass
class Reply:
    """A normal chat completion whose assistant message is `content`."""

    content: str
    """Assistant message text."""
    prompt_tokens: int | None = None
    """Usage to report; estimated from the request when None."""
    completion_tokens: int | None = None
    """Usage to report; estimated from the content when None."""
    finish_reason: str = "stop"
    """Why the model stopped: "stop", or "length" for an answer cut at max_tokens."""


Responder = Callable[[dict[str, Any]], "Reply | Fault | str"]


def chat_text(request: dict[str, Any]) -> str:
    """All message contents of a chat request joined with newlines (for responders to inspect)."""
    parts: list[str] = []
    for m in request.get("messages", []):
        c = m.get("content")
        if isinstance(c, str):
            parts.append(c)
        elif isinstance(c, list):
            parts.extend(p.get("text", "") for p in c if isinstance(p, dict))
    return "\n".join(parts)


def verdict_json(category: str, confidence: float = 0.9, rationale: str = "stub verdict", evidence: str = "") -> str:
    """The JSON text of a judge verdict in the judge's answer shape."""
    return json.dumps(
        {"category": category, "rationale": rationale, "evidence": evidence, "confidence": confidence},
        ensure_ascii=False,
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]}))
        else:
            self._send(404, '{"error": {"message": "not found"}}')

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send(400, '{"error": {"message": "invalid JSON body"}}')
            return
        stub = self.server.stub
        stub._record(body, {k.lower(): v for k, v in self.headers.items()})  # header names are case-insensitive
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, '{"error": {"message": "not found"}}')
            return
        if stub.latency_s:
            time.sleep(stub.latency_s)
        out = stub.responder(body)
        if isinstance(out, str):
            out = Reply(out)
        if isinstance(out, Fault):
            if out.stall_s:
                time.sleep(out.stall_s)
            if out.truncate:
                data = out.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data) + 100))
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True
                return
            self._send(out.status, out.body, out.headers)
            return
        prompt_tokens = out.prompt_tokens if out.prompt_tokens is not None else max(1, len(chat_text(body)) // 2)
        completion_tokens = out.completion_tokens if out.completion_tokens is not None else max(1, len(out.content) // 2)
        payload = {
            "id": f"chatcmpl-stub-{stub.count}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "stub"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": out.content}, "finish_reason": out.finish_reason}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        self._send(200, json.dumps(payload, ensure_ascii=False))

    def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    stub: OpenAIStubServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout tests) is expected; anything else is printed."""
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class OpenAIStubServer:
    """Serve `/v1/chat/completions` on 127.0.0.1:<random port>; use as a context manager."""

    def __init__(self, responder: Responder, latency_s: float = 0.0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.responder = responder
        self.latency_s = latency_s
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        """Request headers, names lower-cased."""
        self.keep_requests = True
        self._lock = threading.Lock()
        self.count = 0
        self._httpd = _Server((host, port), _Handler)
        self._httpd.stub = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL, e.g. http://127.0.0.1:PORT/v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    def _record(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.count += 1
            if self.keep_requests:
                self.requests.append(body)
                self.headers.append(headers)

    def start(self) -> OpenAIStubServer:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OpenAIStubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
