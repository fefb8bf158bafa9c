"""The `medjudge` command line (Typer). Commands parse options, call one `judge.api` function and print its result."""

from judge.core.lazy import lazy_exports

_EXPORTS = {"app": "judge.cli.app", "main": "judge.cli.app"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
