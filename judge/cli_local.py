"""`medjudge serve`: run a local GGUF model behind llama.cpp's OpenAI-compatible API."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

from judge.exceptions import MedjudgeError
from judge.local_llm import DEFAULT_N_CTX


def serve(
    gguf: Annotated[Path | None, typer.Option("--gguf", help="GGUF model file (default: the small Gemma 3 270M "
                                              "model installed by medjudge\\[local]).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port on 127.0.0.1 (default: a free one).", min=1,
                                             max=65535)] = None,
    n_ctx: Annotated[int, typer.Option("--n-ctx", help="Context window in tokens (prompt + answer).",
                                       min=512)] = DEFAULT_N_CTX,
    n_threads: Annotated[int | None, typer.Option("--n-threads", help="CPU threads (default: all cores but one).",
                                                  min=1)] = None,
    chat_format: Annotated[str | None, typer.Option("--chat-format", help="llama-cpp-python chat format (e.g. "
                                                    "chatml, gemma) for GGUF files without a chat template.")] = None,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the background server that '--model local' "
                                       "started, then exit.")] = False,
) -> None:
    """Serve a GGUF model on 127.0.0.1 with llama.cpp's OpenAI-compatible API, in the foreground (Ctrl-C stops it).

    Label against it with: medjudge label ITEMS --model local:http://127.0.0.1:PORT/v1
    """
    from judge.console import console, err_console
    from judge.local_llm import start_server, stop_recorded_server

    if stop:
        stopped = stop_recorded_server()
        console.print("stopped the background server" if stopped else "no background server was running")
        return
    try:
        server = start_server(gguf, port=port, n_ctx=n_ctx, n_threads=n_threads, chat_format=chat_format)
    except MedjudgeError as e:
        err_console.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(2) from None
    console.print(f"serving {server.gguf.name} (n_ctx={server.n_ctx}) at [bold]{server.api_base}[/]", highlight=False)
    console.print(f"api_base: {server.api_base}    model: {server.model}    log: {server.log_path}", highlight=False)
    console.print(f"label with: medjudge label ITEMS --model local:{server.api_base}", highlight=False)
    console.print("Ctrl-C stops the server.")
    try:
        code = server.process.wait() if server.process is not None else 0
    except KeyboardInterrupt:
        code = 0
    finally:
        server.stop()
    if code in (0, -signal.SIGINT, -signal.SIGTERM):  # Ctrl-C reaches the server too, which then exits cleanly
        if server.log_path is not None:
            server.log_path.unlink(missing_ok=True)
        console.print("server stopped")
        return
    err_console.print(f"[red]error:[/] server exited with code {code}; see {server.log_path}", highlight=False)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the `serve` command."""
    app.command()(serve)
