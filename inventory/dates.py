"""Dates typed by people: dd.mm.yyyy, dd.mm, d.m.yy and ISO."""

from __future__ import annotations

import re
from datetime import date

from inventory.errors import InvalidDate, PastDate

DATE_RE = re.compile(r"^\s*(\d{1,2})[./\-](\d{1,2})(?:[./\-](\d{2}|\d{4}))?\s*$")
ISO_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")


def parse_date(text: str, today: date) -> date:
    """Parse a typed date; without a year it is the next such day from today."""
    iso = ISO_RE.match(text)
    if iso:
        year, month, day = (int(x) for x in iso.groups())
    else:
        match = DATE_RE.match(text)
        if not match:
            raise InvalidDate(text=text)
        day, month = int(match[1]), int(match[2])
        year = int(match[3]) if match[3] else today.year
        if match[3] and len(match[3]) == 2:
            year += 2000
    try:
        value = date(year, month, day)
    except ValueError as exc:
        raise InvalidDate(text=text) from exc
    if not (iso or (match and match[3])) and value < today:
        value = date(year + 1, month, day)
    return value


def parse_future_date(text: str, today: date) -> date:
    """A typed due date: today or later."""
    value = parse_date(text, today)
    if value < today:
        raise PastDate(value=value)
    return value
