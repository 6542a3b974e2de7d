"""JSON text as devtrack stores it: Cyrillic kept readable, dates in ISO form."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from typing import Any

logger = logging.getLogger(__name__)


def _iso(value: Any) -> str:
    """A date or datetime as ISO text; any other type JSON lacks is refused (TypeError)."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _iso_or_text(value: Any) -> str:
    """A date or datetime as ISO text, anything else JSON lacks as its text."""
    try:
        return _iso(value)
    except TypeError:
        return str(value)


# One encoder, built at import: audit details, dialogue data and the digest claims compare and
# display the same text wherever it is written.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_iso_or_text)
# A backup's files: readable names and one row per few lines, for a person opening the zip; a
# value of a type it cannot restore is an error, not its text.
_DUMP_ENCODER = json.JSONEncoder(ensure_ascii=False, indent=1, default=_iso)


def dumps(value: Any) -> str:
    """Compact JSON text with non-ASCII characters as they are."""
    return _ENCODER.encode(value)


def dump_file(value: Any) -> str:
    """Indented JSON text for a file a person may read (a backup's tables and manifest)."""
    return _DUMP_ENCODER.encode(value)
