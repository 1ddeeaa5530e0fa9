"""One check at the edge for characters no database column can hold.

PostgreSQL `text` cannot store NUL, and no UTF-8 column can store a lone surrogate; either one
used to reach a query and come back as a 500. JSON bodies are checked by the decoder
(`app.jsonbody`); this hook checks the rest of every HTTP request (path, query string, headers)
before any parameter is parsed or any dependency opens a transaction, so no route has to repeat
it field by field. It runs after route guards, so an Ocrch client still sees its authentication
errors first (api.md §1.3, §1.4). WebSocket upgrades read only UUIDs and visible-ASCII headers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from litestar import Request

from app.errors import UnstorableText
from app.jsonbody import has_unstorable


def unstorable_part(scope: Any) -> str | None:
    """Which part of the request holds an unstorable character, or None."""
    if has_unstorable(scope.get("path", "")):
        return "path"
    query = unquote_to_bytes(scope.get("query_string", b""))
    try:
        if has_unstorable(query.decode("utf-8")):
            return "query string"
    except UnicodeDecodeError:
        return "query string"
    if any(b"\x00" in value for _, value in scope.get("headers", ())):
        return "headers"
    return None


async def refuse_unstorable(request: Request[Any, Any, Any]) -> None:
    """`before_request` of the whole app: 400 before a handler sees the request."""
    part = unstorable_part(request.scope)
    if part is not None:
        raise UnstorableText(part)
