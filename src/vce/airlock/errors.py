"""Errors of the airlock's business layer; the web layer maps each to an HTTP status.

Every error carries a stable ``code`` (for programs) and a message naming the fix (for people).
"""

from __future__ import annotations


class AirlockError(Exception):
    """Base class: ``status`` is the HTTP status the API answers with."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class Invalid(AirlockError):
    """The input cannot be used as given."""


class Forbidden(AirlockError):
    """The caller is known but may not do this."""

    status = 403
    code = "forbidden"


class NotFound(AirlockError):
    """No such object."""

    status = 404
    code = "not_found"


class Conflict(AirlockError):
    """The object is not in a state that allows this."""

    status = 409
    code = "conflict"


class Gone(AirlockError):
    """The object existed but was deleted on purpose (e.g. after its retention period)."""

    status = 410
    code = "gone"


class TooManyRequests(AirlockError):
    """A per-project rate limit or quota is reached; ``retry_after`` is when it resets."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, code: str | None = None, retry_after: int = 0) -> None:
        super().__init__(message, code)
        self.retry_after = retry_after
