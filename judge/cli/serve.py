"""`medjudge serve`: run a local GGUF model behind llama.cpp's OpenAI-compatible API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from judge.cli.options import fail, user_errors

DEFAULT_N_CTX = 8192  # judge.llm.local.DEFAULT_N_CTX; written here so that `--help` needs no llama.cpp imports


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
    from judge.cli.console import console
    from judge.llm.local import start_server, stop_recorded_server

    if stop:
        stopped = stop_recorded_server()
        console.print("stopped the background server" if stopped else "no background server was running")
        return
    try:
        server = start_server(gguf, port=port, n_ctx=n_ctx, n_threads=n_threads, chat_format=chat_format)
    except user_errors() as e:
        fail(e)
    console.print(f"serving {server.gguf.name} (n_ctx={server.n_ctx}) at [bold]{server.api_base}[/]", highlight=False)
    console.print(f"api_base: {server.api_base}    model: {server.model}    log: {server.log_path}", highlight=False)
    console.print(f"label with: medjudge label ITEMS --model local:{server.api_base}", highlight=False, soft_wrap=True)
    console.print("Ctrl-C stops the server.")
    if not server.wait():
        fail(f"server exited with code {server.exit_code}; see {server.log_path}", code=1)
    console.print("server stopped")


def register(app: typer.Typer) -> None:
    """Add the `serve` command."""
    app.command()(serve)
