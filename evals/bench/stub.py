"""The benchmark's OpenAI-compatible stub server, run in its own process so its CPU is not the client's.

One responder answers every tool in the format it asks for:
- medjudge's single judge: the verdict JSON object;
- medjudge's batched judge: a JSON object {"verdicts": [...]} keyed by item index;
- DSPy's ChatAdapter: `[[ ## category ## ]]` field markers;
- Phoenix's classifier: the JSON object of its `json_schema` response format ({"explanation", "label"}).
The category for an item is decided by the `[case-N]` marker in its response text.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import re
import time
from typing import Any

from judge.core.taxonomy import CATEGORY_CODES
from judge.testing import OpenAIStubServer, chat_text, verdict_json

_CASE = re.compile(r"\[case-(\d+)\]")
_BATCH_ITEM = re.compile(r"<<<ITEM (\d+)>>>(.*?)<<<END ITEM \1>>>", re.DOTALL)


def category_for(text: str) -> str:
    """The category the stub answers for a text holding a `[case-N]` marker (N mod 8)."""
    m = _CASE.search(text)
    return CATEGORY_CODES[int(m.group(1)) % len(CATEGORY_CODES)] if m else CATEGORY_CODES[0]


def respond(body: dict[str, Any]) -> str:
    """Answer a chat request in the format of the tool that sent it."""
    text = chat_text(body)
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        schema = fmt.get("json_schema", {}).get("schema", {})
        if "label" in schema.get("properties", {}):
            return json.dumps({"explanation": "stub", "label": category_for(text)})
    if "[[ ## category ## ]]" in text:
        return f"[[ ## category ## ]]\n{category_for(text)}\n\n[[ ## completed ## ]]"
    batch = _BATCH_ITEM.findall(text)
    if batch:
        verdicts = [{"index": int(i), "category": category_for(body_text), "rationale": "stub", "evidence": "",
                     "confidence": 0.8} for i, body_text in batch]
        return json.dumps({"verdicts": verdicts})
    user = body.get("messages", [{}])[-1].get("content", "")
    return verdict_json(category_for(user if isinstance(user, str) else text), 0.8)


def completion(body: dict[str, Any], content: str, served: int) -> dict[str, Any]:
    """An OpenAI chat completion around `content`, tokens estimated as characters / 2 (as the test stub does)."""
    prompt_tokens, completion_tokens = max(1, len(chat_text(body)) // 2), max(1, len(content) // 2)
    return {"id": f"chatcmpl-bench-{served}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "stub"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def _serve_threaded(latency_s: float, port_q: Any, stop: Any, count_q: Any) -> None:
    server = OpenAIStubServer(respond, latency_s=latency_s).start()
    server.keep_requests = False
    port_q.put(server.port)
    stop.wait()
    count_q.put((server.count, time.process_time()))
    server.stop()


def _serve_asyncio(latency_s: float, port_q: Any, stop: Any, count_q: Any) -> None:
    import asyncio

    from aiohttp import web

    served = 0

    async def chat(request: web.Request) -> web.Response:
        nonlocal served
        body = await request.json()
        served += 1
        if latency_s:
            await asyncio.sleep(latency_s)
        return web.json_response(completion(body, respond(body), served))

    async def main() -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_q.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, stop.wait)
        await runner.cleanup()

    asyncio.run(main())
    count_q.put((served, time.process_time()))


class _RawHTTP:
    """A minimal HTTP/1.1 keep-alive server for POST requests with Content-Length (what every benchmarked client
    sends): no framework between the socket and `respond`, so the stub costs the shared cores as little as it can."""

    def __init__(self, latency_s: float) -> None:
        import asyncio

        self.latency_s, self.served, self.asyncio = latency_s, 0, asyncio

    async def handle(self, reader: Any, writer: Any) -> None:
        import orjson

        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = orjson.loads(await reader.readexactly(length)) if length else {}
                self.served += 1
                if self.latency_s:
                    await self.asyncio.sleep(self.latency_s)
                data = orjson.dumps(completion(body, respond(body), self.served))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                             b"Connection: keep-alive\r\n\r\n%s" % (len(data), data))
                await writer.drain()
        except (self.asyncio.IncompleteReadError, ConnectionError, self.asyncio.CancelledError):
            pass  # the client closed the connection, or the server is shutting down
        finally:
            writer.close()


def _serve_raw(latency_s: float, port_q: Any, stop: Any, count_q: Any) -> None:
    import asyncio

    server = _RawHTTP(latency_s)

    async def main() -> None:  # asyncio sets TCP_NODELAY on every accepted connection
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0, backlog=1024, limit=64 * 1024 * 1024)
        port_q.put(srv.sockets[0].getsockname()[1])
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        srv.close()

    asyncio.run(main())
    count_q.put((server.served, time.process_time()))


SERVERS = {"raw": _serve_raw, "asyncio": _serve_asyncio, "threaded": _serve_threaded}
"""Stub server implementations: a minimal asyncio HTTP/1.1 server (least CPU), aiohttp on one event loop, or the
tests' threaded stdlib server."""


class StubProcess:
    """Run the stub server in a child process; `base_url` while running; `count` (requests served) and `cpu_s`
    (the server's CPU seconds, start-up included) after."""

    def __init__(self, latency_s: float = 0.05, kind: str = "raw") -> None:
        ctx = mp.get_context("spawn")
        self._port_q, self._count_q, self._stop = ctx.Queue(), ctx.Queue(), ctx.Event()
        self._proc = ctx.Process(target=SERVERS[kind], args=(latency_s, self._port_q, self._stop, self._count_q),
                                 daemon=True)
        self.kind = kind
        self.port = 0
        self.count: int | None = None
        self.cpu_s: float | None = None

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL of the running server."""
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> StubProcess:
        self._proc.start()
        self.port = self._port_q.get(timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        try:
            self.count, self.cpu_s = self._count_q.get(timeout=10)
        finally:
            self._proc.join(timeout=10)
            if self._proc.is_alive():
                self._proc.terminate()
