"""Dates typed by people: dd.mm.yyyy, dd.mm, d.m.yy and ISO; the one rule for due dates."""

from __future__ import annotations

import re
from datetime import date

from inventory.errors import DateTooFar, InvalidDate, PastDate

DATE_RE = re.compile(r"^\s*(\d{1,2})[./\-](\d{1,2})(?:[./\-](\d{2}|\d{4}))?\s*$", re.ASCII)
ISO_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$", re.ASCII)
DUE_YEARS = 2  # a due date further ahead is a typo (01.01.9999), not a plan


def _next(day: int, month: int, today: date, text: str) -> date:
    """The next such day from today: «29.02» in 2026 is 29.02.2028."""
    for year in range(today.year, today.year + 9):
        try:
            value = date(year, month, day)
        except ValueError:
            continue
        if value >= today:
            return value
    raise InvalidDate(text=text)


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
        if not match[3]:
            return _next(day, month, today, text)
        year = int(match[3]) + (2000 if len(match[3]) == 2 else 0)
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise InvalidDate(text=text) from exc


def latest_due(today: date) -> date:
    """The furthest due date accepted: two years from today (28.02 for a 29.02)."""
    try:
        return today.replace(year=today.year + DUE_YEARS)
    except ValueError:
        return today.replace(year=today.year + DUE_YEARS, day=28)


def parse_future_date(text: str, today: date) -> date:
    """A typed due date: from today up to two years ahead."""
    value = parse_date(text, today)
    if value < today:
        raise PastDate(value=value)
    if value > latest_due(today):
        raise DateTooFar(value=value, limit=latest_due(today))
    return value
