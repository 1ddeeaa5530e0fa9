"""Exceptions: what the server said (status and text) travels with the error, never swallowed."""

from __future__ import annotations

from typing import Any


class StablecheckoutError(Exception):
    """Base class of every error this SDK raises."""


class ApiError(StablecheckoutError):
    """The server answered with a non-success status.

    Ocrch routes (Service and User API) answer errors in plain text with exact strings
    (`signature verification failed`, `order not found`); the Checkout Sessions API answers
    `{"error": {"type", "message", "param"}}`. Both keep the raw `text`, so nothing is lost.
    """

    def __init__(
        self,
        status_code: int,
        text: str,
        *,
        error_type: str | None = None,
        message: str | None = None,
        param: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.text = text
        self.error_type = error_type
        self.message = message if message is not None else text
        self.param = param
        super().__init__(f"{status_code}: {self.message}")

    @classmethod
    def from_session_response(cls, status_code: int, text: str, data: Any) -> ApiError:
        """A Checkout Sessions error body, or the raw text when it is not the documented JSON."""
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return cls(status_code, text)
        return cls(
            status_code,
            text,
            error_type=_str_or_none(error.get("type")),
            message=_str_or_none(error.get("message")),
            param=_str_or_none(error.get("param")),
        )


class TransportError(StablecheckoutError):
    """The request never got an answer (connection refused, timeout, TLS failure)."""


class WebhookVerificationError(StablecheckoutError):
    """A webhook's signature header is missing, malformed, wrong, or too old: answer 400."""


class InvalidResponseError(StablecheckoutError):
    """A success answer whose body is not what the wire contract promises."""


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
