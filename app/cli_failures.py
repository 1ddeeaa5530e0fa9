"""How the operator CLIs (`stablecheckout admin`, its queue verbs, `admin api-keys`) end on an
error: one line on standard error and an exit code, worded alike by all of them (they had each
written it out)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError

from app.errors import AppError


def failed(program: str, exc: Exception, words: Callable[[AppError], str] | None = None) -> int:
    """Prints why `program` failed; its exit code: 1 for our errors (worded by `words`, by
    default their message) and the database's, 2 for bad input (`ValueError`)."""
    if isinstance(exc, AppError):
        text, code = (words or (lambda e: e.message))(exc), 1
    elif isinstance(exc, DBAPIError):
        name = type(exc.orig).__name__
        text = (
            f"database error ({name}); is the schema up to date? run "
            "`stablecheckout migrate -c PATH`"
        )
        code = 1
    else:
        text, code = str(exc), 2
    print(f"{program}: {text}", file=sys.stderr)
    return code
