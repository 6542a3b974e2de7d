"""The daily reminder and the admin digest as texts with buttons, split to Telegram's limits.

Each device in a reminder gets «Вернуть» (`ret:<device_id>:new`, the card's own confirm flow,
in a new message) and «Продлить на неделю» (`ext:<device_id>:<yyyymmdd>`, carrying the due
date it was drawn for, so a second press extends nothing); the bot handles both buttons.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Generic, TypeVar

from handlers import texts
from inventory.reminders import due_of
from notices import Buttons, button
from notices.names import person_name

if TYPE_CHECKING:
    from models import Loan, Person

logger = logging.getLogger(__name__)

NEW_MESSAGE = "new"  # «Вернуть» asks in a new message, keeping the reminder's other buttons
MESSAGE_LIMIT = 4096  # Telegram's limit, in UTF-16 code units of the text after parsing
# Two buttons per device; Telegram refuses keyboards with more than 100 buttons.
DEVICES_PER_MESSAGE = 40
DATE_ARG = "%Y%m%d"

T = TypeVar("T")


@dataclass
class Section(Generic[T]):
    """Header lines and item lines; each item line carries a payload (e.g. its loan)."""

    header: list[str]
    items: list[tuple[str, T]] = field(default_factory=list)


@dataclass
class Outgoing:
    """One message to send: text, buttons and the loans it reminds of."""

    text: str
    buttons: Buttons = field(default_factory=list)
    loans: list[Loan] = field(default_factory=list)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (an emoji outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def split(sections: Sequence[Section[T]], *, budget: int,
          max_items: int | None = None) -> list[tuple[list[str], list[T]]]:
    """Pack sections into chunks of at most `budget` characters and `max_items` items.

    A section that continues in the next chunk repeats its header there; no item is dropped.
    """
    chunks: list[tuple[list[str], list[T]]] = []
    lines: list[str] = []
    items: list[T] = []
    size = 0
    for section in sections:
        opened = False
        for line, payload in section.items:
            add = ([""] if lines and not opened else []) + ([] if opened else section.header)
            add.append(line)
            cost = sum(utf16_len(x) + 1 for x in add)
            full = max_items is not None and len(items) >= max_items
            if items and (size + cost > budget or full):
                chunks.append((lines, items))
                lines, items, size = [], [], 0
                add = [*section.header, line]
                cost = sum(utf16_len(x) + 1 for x in add)
            lines.extend(add)
            items.append(payload)
            size += cost
            opened = True
    if items:
        chunks.append((lines, items))
    return chunks


def _with_parts(bodies: list[str], footer: str = "") -> list[str]:
    """Number the parts when there are several; the footer goes under the last one."""
    result = []
    for index, body in enumerate(bodies, start=1):
        parts = [texts.REMIND_PART.format(part=index, parts=len(bodies))] if len(bodies) > 1 \
            else []
        parts.append(body)
        if footer and index == len(bodies):
            parts.append(footer)
        result.append("\n\n".join(parts))
    return result


def _budget(footer: str, count_hint: int) -> int:
    """Characters left for the body after the part marker and the footer."""
    marker = utf16_len(texts.REMIND_PART.format(part=count_hint, parts=count_hint))
    return MESSAGE_LIMIT - marker - utf16_len(footer) - 8


# --- personal reminders ----------------------------------------------------------------------


def headers_for(due: date, today: date, weekdays: frozenset[int]) -> list[str]:
    """The wording for loans due on `due`, seen from the working day `today`."""
    shown = texts.fmt_date(due)
    if due < today:
        lines = [texts.REMIND_OVERDUE.format(days=texts.days((today - due).days), date=shown)]
    elif due == today:
        lines = [texts.REMIND_TODAY.format(date=shown)]
    elif due == today + timedelta(days=1):
        lines = [texts.REMIND_TOMORROW.format(date=shown)]
    else:
        lines = [texts.REMIND_ON_DAY.format(weekday=texts.WEEKDAYS_ON[due.weekday()], date=shown)]
    if due > today and due.weekday() not in weekdays:
        lines.append(texts.REMIND_DAY_OFF)
    return lines


def reminder_messages(held: Sequence[Loan], today: date,
                      weekdays: frozenset[int]) -> list[Outgoing]:
    """One person's reminder: one message, split only when Telegram's limits demand it.

    `held` must have `device` loaded (no queries here). Most overdue first, then today, then
    ahead; each device gets «Вернуть» and «Продлить на неделю».
    """
    ordered = sorted(held, key=lambda loan: (loan.due_date, loan.device.number))
    sections: list[Section[Loan]] = []
    for loan in ordered:
        if not sections or sections[-1].items[-1][1].due_date != loan.due_date:
            sections.append(Section(headers_for(due_of(loan), today, weekdays)))
        line = texts.REMIND_LINE.format(number=loan.device.number, name=texts.e(loan.device.name))
        sections[-1].items.append((line, loan))
    numbered = len(ordered) > 1
    chunks = split(sections, budget=_budget(texts.REMIND_FOOTER, len(ordered)),
                   max_items=DEVICES_PER_MESSAGE)
    bodies = _with_parts(["\n".join(lines) for lines, _ in chunks], texts.REMIND_FOOTER)
    return [Outgoing(text, _keyboard(chunk_loans, numbered), chunk_loans)
            for text, (_, chunk_loans) in zip(bodies, chunks, strict=True)]


def _keyboard(held: Sequence[Loan], numbered: bool) -> Buttons:
    """«Вернуть» and «Продлить на неделю» per device (labels numbered when there are several)."""

    def label(text: str, loan: Loan) -> str:
        return texts.BTN_NUMBERED.format(number=loan.device.number, label=text) if numbered \
            else text

    return [[button(label(texts.BTN_RETURN, loan), "ret", loan.device_id, NEW_MESSAGE),
             button(label(texts.BTN_EXTEND, loan), "ext", loan.device_id,
                    due_of(loan).strftime(DATE_ARG))] for loan in held]


# --- admin digest ----------------------------------------------------------------------------


def digest_messages(overdue: Sequence[Loan], unreachable: Sequence[tuple[Person, int]],
                    today: date) -> list[str]:
    """The admin digest: overdue devices (most overdue first), then unreachable holders."""
    sections: list[Section[None]] = []
    if overdue:
        ordered = sorted(overdue, key=lambda loan: (loan.due_date, loan.device.number))
        section: Section[None] = Section([texts.DIGEST_TITLE.format(
            count=len(ordered), date=texts.fmt_date(today))])
        for loan in ordered:
            section.items.append((texts.DIGEST_LINE.format(
                number=loan.device.number, name=texts.e(loan.device.name),
                holder=person_name(loan.person),
                days=texts.days((today - due_of(loan)).days)), None))
        sections.append(section)
    if unreachable:
        section = Section([texts.DIGEST_UNREACHABLE_TITLE.format(count=len(unreachable))])
        for person, held in unreachable:
            line = texts.DIGEST_UNREACHABLE_LINE.format(
                person=person_name(person), email=texts.e(person.email),
                devices=texts.devices_count(held))
            if person.telegram_id is None:
                line += texts.DIGEST_NOT_REGISTERED
            section.items.append((line, None))
        sections.append(section)
    chunks = split(sections, budget=_budget("", len(overdue) + len(unreachable)))
    return _with_parts(["\n".join(lines) for lines, _ in chunks])
