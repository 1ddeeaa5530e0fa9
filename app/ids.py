"""Identifiers: UUID v7 (time-ordered, as Ocrch makes them) for orders and events."""

import uuid

from uuid_utils.compat import uuid7


def new_id() -> uuid.UUID:
    return uuid7()
