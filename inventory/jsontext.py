"""JSON text as devtrack stores it: Cyrillic kept readable, anything else as its text."""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger(__name__)

# One encoder, built at import: audit details, dialogue data and the digest claims compare and
# display the same text wherever it is written.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)
# A backup's files: readable names and one row per few lines, for a person opening the zip.
_DUMP_ENCODER = json.JSONEncoder(ensure_ascii=False, indent=1)


def dumps(value: Any) -> str:
    """Compact JSON text with non-ASCII characters as they are."""
    return _ENCODER.encode(value)


def dump_file(value: Any) -> str:
    """Indented JSON text for a file a person may read (a backup's tables and manifest)."""
    return _DUMP_ENCODER.encode(value)
