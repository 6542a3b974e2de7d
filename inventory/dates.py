"""Dates typed by people or read from files: the one parser, and the one rule for due dates."""

from __future__ import annotations

import re
from datetime import date

from inventory.errors import DateTooFar, InvalidDate, PastDate

DATE_RE = re.compile(r"(\d{1,2})[./\-](\d{1,2})(?:[./\-](\d{4}|\d{2}))?", re.ASCII)
ISO_RE = re.compile(r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})", re.ASCII)
# Spreadsheets write a date cell as «2024-03-05 00:00:00»; a file may carry that time.
TIME_TAIL = re.compile(r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?", re.ASCII)
NO_TAIL = re.compile("")
FIRST_YEAR, LAST_YEAR = 1900, 2200
# «5.3.99» is 1999, «5.1.27» is 2027: a two-digit year at most this many years ahead.
CENTURY_AHEAD = 20
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


def _full_year(digits: str, today: date) -> int:
    """A four-digit year as is; a two-digit one in the century window around today."""
    year = int(digits)
    if len(digits) == 4:
        return year
    year += today.year // 100 * 100
    return year - 100 if year > today.year + CENTURY_AHEAD else year


def parse_date(text: str, today: date, *, year_required: bool = False,
               time_allowed: bool = False, years: tuple[int, int] | None = None) -> date:
    """dd.mm.yyyy, d.m.yy, dd.mm or yyyy-mm-dd; without a year, the next such day from today.

    year_required: refuse a date without a year (registration dates and file cells: the next
    such day only makes sense for a date ahead). time_allowed: ignore a trailing time (files).
    years: the accepted range of years, when any (a typed due date is limited by its own rule,
    which names the limit).
    """
    value = text.strip()
    tail = TIME_TAIL if time_allowed else NO_TAIL
    iso = ISO_RE.match(value)
    if iso and tail.fullmatch(value[iso.end():]):
        year, month, day = (int(part) for part in iso.groups())
    else:
        match = DATE_RE.match(value)
        if not match or not tail.fullmatch(value[match.end():]):
            raise InvalidDate(text=text)
        day, month = int(match[1]), int(match[2])
        if match[3] is None:
            if year_required:
                raise InvalidDate(text=text)
            return _next(day, month, today, text)
        year = _full_year(match[3], today)
    if years is not None and not years[0] <= year <= years[1]:
        raise InvalidDate(text=text)
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise InvalidDate(text=text) from exc


def parse_recorded_date(text: str, today: date) -> date:
    """A date that records the past or the present (registration; any cell of an import file):
    a year is required, a spreadsheet's trailing time is ignored, years 1900–2200."""
    return parse_date(text, today, year_required=True, time_allowed=True,
                      years=(FIRST_YEAR, LAST_YEAR))


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
