"""The reminder's «Продлить на неделю» button (the texts are rendered in notices/reminders.py).

«Вернуть» is the card's own `ret:<device_id>` confirm flow; «Продлить на неделю» is
`ext:<device_id>:<yyyymmdd>`, carrying the due date it was drawn for, so a second press (or a
press after the date was changed some other way) extends nothing and says what the date is now.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import TYPE_CHECKING

from handlers import browse, texts
from handlers.context import Ctx
from handlers.routing import Args
from handlers.texts import device_title
from inventory import loans
from notices.reminders import DATE_ARG

if TYPE_CHECKING:
    from dispatch import DevtrackBot

logger = logging.getLogger(__name__)

EXTEND_DAYS = 7


# --- «Продлить на неделю» --------------------------------------------------------------------


def extended_due(due: date, today: date) -> date:
    """A week more, counted from today when the loan is already overdue."""
    return max(today, due) + timedelta(days=EXTEND_DAYS)


def on_extend(ctx: Ctx, args: Args) -> None:
    """ext:<device_id>:<yyyymmdd> — the holder moves the due date a week on."""
    device_id = args.int(0)
    drawn_for = args.date(1, DATE_ARG)
    loans.holders_loan(device_id, ctx.me)
    loan = loans.open_loan(device_id)
    if loan is None or loan.due_date != drawn_for:
        # Pressed twice, or the date was changed since the reminder: extend nothing.
        due = loan.due_date if loan is not None else None
        shown = texts.MINE_DUE.format(date=texts.fmt_date(due)) if due else texts.MINE_NO_DUE
        ctx.answer(texts.EXTEND_STALE.format(due=shown), alert=True)
        return
    new_due = extended_due(drawn_for, ctx.today)
    changed = loans.change(device_id, ctx.me, now=ctx.now, due_date=new_due)
    logger.info("loan %s extended to %s from a reminder", changed.id, new_due)
    browse.send_card(ctx, device_id, prefix=texts.EXTENDED.format(
        **device_title(changed.device), date=texts.fmt_date(new_due)))


def register(bot: DevtrackBot) -> None:
    """Wire the reminder buttons («Вернуть» is lending's `ret:`)."""
    bot.routes.callback("ext", on_extend)
