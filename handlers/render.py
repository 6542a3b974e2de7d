"""Texts of device cards and list lines, built from domain rows and the templates."""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING

from handlers import texts
from handlers.context import Ctx
from inventory import queue
from inventory.clock import local_time
from inventory.devices import DeviceRow
from notices.names import cut, person_name, short_name

if TYPE_CHECKING:
    from models import Loan

logger = logging.getLogger(__name__)

# Field lengths in one-line lists and cards: a page of lines always fits in a message.
NAME_IN_LINE = 60
PLACE_IN_LINE = 60
COMMENT_IN_CARD = 1000


def state_lines(row: DeviceRow, ctx: Ctx) -> list[str]:
    """The state part of a card: free, held (since, until, place, overdue) or held for the queue."""
    loan = row.loan
    if loan is None:
        if row.hold is not None:
            until = texts.fmt_time(local_time(queue.hold_end(row.hold), ctx.config))
            return [texts.STATE_HOLD.format(person=person_name(row.hold.person), until=until)]
        return [texts.STATE_FREE]
    since = texts.fmt_date(local_time(loan.taken_at, ctx.config).date())
    lines = [texts.STATE_HELD.format(holder=person_name(loan.person), since=since)]
    today = ctx.today
    overdue = row.overdue_days(today)
    if loan.due_date is None:
        lines.append(texts.STATE_NO_DUE)
    elif overdue:
        lines.append(texts.STATE_OVERDUE.format(days=texts.days(overdue),
                                                date=texts.fmt_date(loan.due_date)))
    elif loan.due_date == today:
        lines.append(texts.STATE_DUE_TODAY.format(date=texts.fmt_date(loan.due_date)))
    else:
        lines.append(texts.STATE_DUE.format(date=texts.fmt_date(loan.due_date)))
    if loan.place:
        lines.append(texts.STATE_PLACE.format(place=cut(loan.place, PLACE_IN_LINE * 4)))
    return lines


def card_text(row: DeviceRow, ctx: Ctx, extra: list[str] | None = None) -> str:
    """The full device card."""
    device = row.device
    lines = [
        texts.CARD_TITLE.format(number=device.number, name=texts.e(device.name)),
        texts.CARD_CATEGORY.format(category=texts.e(device.category.name)),
        texts.CARD_SERIAL.format(serial=texts.e(device.serial)),
    ]
    if device.firmware:
        lines.append(texts.CARD_FIRMWARE.format(firmware=texts.e(device.firmware)))
    if device.registered_on:
        lines.append(texts.CARD_REGISTERED.format(date=texts.fmt_date(device.registered_on)))
    if device.comment:
        lines.append(texts.CARD_COMMENT.format(comment=cut(device.comment, COMMENT_IN_CARD)))
    lines.append("")
    lines.extend(state_lines(row, ctx))
    if extra:
        lines.extend(extra)
    return "\n".join(lines)


def line_state(row: DeviceRow, today: date) -> str:
    """Short state for a list line."""
    loan = row.loan
    if loan is None:
        if row.hold is not None:
            return texts.LINE_HOLD.format(person=short_name(row.hold.person))
        return texts.LINE_FREE
    holder = short_name(loan.person)
    if row.overdue_days(today):
        return texts.LINE_OVERDUE.format(holder=holder)
    if loan.due_date:
        return texts.LINE_HELD_UNTIL.format(holder=holder,
                                            date=texts.fmt_date(loan.due_date))
    return texts.LINE_HELD.format(holder=holder)


def list_line(row: DeviceRow, today: date) -> str:
    """One device in a list."""
    return texts.LINE.format(number=row.device.number, name=cut(row.device.name, NAME_IN_LINE),
                             state=line_state(row, today))


def loan_line(loan: Loan, today: date) -> str:
    """One held device with its due date, overdue marked."""
    overdue = (today - loan.due_date).days if loan.due_date else 0
    if overdue > 0:
        due = texts.MINE_OVERDUE.format(days=texts.days(overdue))
    elif loan.due_date:
        due = texts.MINE_DUE.format(date=texts.fmt_date(loan.due_date))
    else:
        due = texts.MINE_NO_DUE
    return texts.MINE_LINE.format(number=loan.device.number,
                                  name=cut(loan.device.name, NAME_IN_LINE),
                                  due=due)
