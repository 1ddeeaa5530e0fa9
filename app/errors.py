"""Expected failures: one base class carrying the HTTP status and the exact text to show.

Ocrch routes render these as plain text (its wire contract); our own routes render JSON.
"""

from __future__ import annotations


class AppError(Exception):
    status_code = 500

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class BadRequest(AppError):
    status_code = 400


class Unauthorized(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class UnsupportedMediaType(AppError):
    status_code = 415


class UnprocessableEntity(AppError):
    status_code = 422


class TooManyRequests(AppError):
    status_code = 429


class ServiceUnavailable(AppError):
    status_code = 503
