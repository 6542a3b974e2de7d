"""Which devices get QR labels: all, a category, typed numbers, or those never labelled.

Plain queries for /labels; the PDF itself is `inventory.labels`. A typed list such as
`101-130, 145, 150` is parsed into numbers and problems (reversed ranges, words, numbers that no
device has), so the admin can be offered the valid part.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import peewee as pw

from inventory import audit
from inventory.labels import Label
from inventory.rows import tuples
from models import Category, Device, Person, db

logger = logging.getLogger(__name__)

MAX_NUMBERS = 20_000  # a typed selection larger than this is a typo (a stray zero), not a job
MAX_NUMBER = 2_147_483_647
UPDATE_CHUNK = 500  # ids per UPDATE: SQLite's parameter limit is far above, and rows stay few
_DASHES = re.compile(r"\s*[-–—]\s*")
_SEPARATORS = re.compile(r"[\s,;]+")
_RANGE = re.compile(r"([0-9]+)-([0-9]+)")  # ASCII digits only: int() refuses «²»
_NUMBER = re.compile(r"[0-9]+")

REVERSED, NOT_A_NUMBER, TOO_MANY = "reversed", "not_a_number", "too_many"


@dataclass(frozen=True)
class Problem:
    """One piece of the typed text that was not used, and why."""

    kind: str  # REVERSED, NOT_A_NUMBER or TOO_MANY
    text: str


@dataclass
class NumberChoice:
    """A typed selection: the numbers found on devices, the missing ones, and the problems."""

    numbers: list[int] = field(default_factory=list)  # devices that exist, ascending
    missing: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def parse_numbers(text: str) -> tuple[list[int], list[Problem]]:
    """Numbers (ascending, unique) and problems of a text like `101-130, 145, 150`."""
    cleaned = _DASHES.sub("-", text.strip())
    numbers: set[int] = set()
    problems: list[Problem] = []
    for token in _SEPARATORS.split(cleaned):
        if not token:
            continue
        span = _RANGE.fullmatch(token)
        if span:
            low, high = int(span.group(1)), int(span.group(2))
            if low > high:
                problems.append(Problem(REVERSED, token))
                continue
        elif _NUMBER.fullmatch(token):
            low = high = int(token)
        else:
            problems.append(Problem(NOT_A_NUMBER, token))
            continue
        if high > MAX_NUMBER:  # no sticker number is that long
            problems.append(Problem(NOT_A_NUMBER, token))
            continue
        if len(numbers) + (high - low + 1) > MAX_NUMBERS:
            problems.append(Problem(TOO_MANY, token))
            continue
        numbers.update(range(low, high + 1))
    return sorted(numbers), problems


def choose_numbers(text: str) -> NumberChoice:
    """Parse typed numbers and split them into those devices have and those they do not."""
    numbers, problems = parse_numbers(text)
    choice = NumberChoice(problems=problems)
    if not numbers:
        return choice
    wanted = set(numbers)
    found = {number for (number,) in tuples(
        Device.select(Device.number).where(Device.number.between(numbers[0], numbers[-1])))
             if number in wanted}
    choice.numbers = sorted(found)
    choice.missing = sorted(wanted - found)
    return choice


def spans(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """Runs of consecutive numbers: [101, 102, 103, 145] → [(101, 103), (145, 145)]."""
    result: list[tuple[int, int]] = []
    for number in sorted(numbers):
        if result and number == result[-1][1] + 1:
            result[-1] = (result[-1][0], number)
        else:
            result.append((number, number))
    return result


def count(condition: pw.Expression | None) -> int:
    """How many devices match condition (one COUNT query)."""
    return Device.select().where(condition).count()  # where(None) adds no filter


def _labels(condition: pw.Expression | None) -> list[tuple[int, Label]]:
    """(device id, label) of the devices matching condition, by number, in one query."""
    query = (Device.select(Device.id, Device.number, Device.name, Category.name)
             .join(Category).where(condition).order_by(Device.number))  # None: every device
    return [(device_id, Label(number, name, category))
            for device_id, number, name, category in tuples(query)]


def select_all() -> list[tuple[int, Label]]:
    """Every device."""
    return _labels(None)


def category_condition(category_id: int) -> pw.Expression:
    """Devices of one category."""
    return Device.category == category_id


def select_category(category_id: int) -> list[tuple[int, Label]]:
    """Devices of one category."""
    return _labels(category_condition(category_id))


UNLABELLED = Device.labelled_at.is_null()  # no label printed yet (added since the last print)


def select_unlabelled() -> list[tuple[int, Label]]:
    """Devices no label was printed for yet (added since labels were last printed)."""
    return _labels(UNLABELLED)


def select_numbers(numbers: list[int]) -> list[tuple[int, Label]]:
    """Devices with the given numbers (those deleted meanwhile are simply absent)."""
    if not numbers:
        return []
    wanted = set(numbers)
    rows = _labels(Device.number.between(min(numbers), max(numbers)))
    return [row for row in rows if row[1].number in wanted]


@dataclass(frozen=True)
class CategoryChoice:
    """A category button: its id, name and device count."""

    id: int
    name: str
    devices: int


def categories() -> list[CategoryChoice]:
    """Categories that have devices, with counts, in one query."""
    count = pw.fn.COUNT(Device.id)
    query = (Category.select(Category.id, Category.name, count)
             .join(Device).group_by(Category.id).order_by(Category.name))
    return [CategoryChoice(cid, name, devices) for cid, name, devices in tuples(query)]


def unlabelled_count() -> int:
    """How many devices have never had a label printed."""
    return count(UNLABELLED)


def mark_labelled(device_ids: list[int], *, actor: Person | None, now: datetime,
                  layout: str) -> int:
    """Record that labels were printed for these devices; returns how many rows changed."""
    changed = 0
    with db.atomic():
        for start in range(0, len(device_ids), UPDATE_CHUNK):
            chunk = device_ids[start:start + UPDATE_CHUNK]
            changed += (Device.update(labelled_at=now)
                        .where(Device.id.in_(chunk)).execute())
        audit.record("labels.printed", actor=actor, now=now, devices=changed, layout=layout)
    return changed
