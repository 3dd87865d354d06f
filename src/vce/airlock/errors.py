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
