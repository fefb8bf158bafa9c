"""Every exception medjudge raises on purpose lives here."""

from __future__ import annotations


class MedjudgeError(Exception):
    """Base class of all medjudge errors."""


class InputError(MedjudgeError):
    """A line or row of input could not be turned into an item."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class ConfigError(MedjudgeError):
    """A setting, model string, prompt or taxonomy file is unusable."""


class EndpointConfigError(ConfigError):
    """The model endpoint refused the run's configuration: no or a wrong API key (401/403), an unknown model (404),
    an unknown provider. Not retried: the run stops at the first one, with the fix in the message."""


class StoreBusyError(MedjudgeError):
    """The database file is held by another process (another run writing to it)."""


class RunInterrupted(MedjudgeError):
    """A run was stopped by the user (Ctrl-C); what was judged before is saved and a re-run resumes."""


class ReadOnlyError(MedjudgeError):
    """A statement tried to modify a database opened read-only."""



class TransportError(MedjudgeError):
    """The judge model could not be reached or kept failing (HTTP 429/5xx, timeouts)."""


class EndpointError(TransportError):
    """An OpenAI-compatible endpoint answered with an HTTP error, or with something that is not a completion."""

    def __init__(self, message: str, status_code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class RateLimitError(EndpointError):
    """The endpoint said 429 Too Many Requests (its Retry-After, if any, is in `retry_after`)."""


class EndpointTimeout(TransportError):
    """The endpoint did not send a complete reply within the timeout."""


class EndpointConnectionError(TransportError):
    """The connection to the endpoint failed or broke off mid-reply."""


class MalformedReplyError(EndpointError):
    """The endpoint answered HTTP 200 with a body that is not a chat completion (cut off or garbled): retried."""
