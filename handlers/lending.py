"""Taking, returning and changing a loan: the dialogues behind «Взять», «Вернуть», «Изменить»."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import TYPE_CHECKING

from telebot import types

from handlers import browse, keyboards, render, texts
from handlers.context import Ctx
from handlers.routing import Args
from handlers.texts import device_title
from inventory import catalog, devices, loans, queue
from inventory.clock import local_time
from inventory.dates import parse_future_date
from inventory.errors import (
    AlreadyTaken,
    DateTooFar,
    DomainError,
    HeldForQueue,
    InvalidDate,
    NotFound,
    PastDate,
    Unsettled,
)
from notices import pack
from notices.reminders import NEW_MESSAGE

if TYPE_CHECKING:
    from dispatch import DevtrackBot
    from models import Loan

logger = logging.getLogger(__name__)

TAKE_PLACE, TAKE_DUE, CHANGE_DUE, CHANGE_PLACE = "take:place", "take:due", "due:date", "place:text"
NO_DUE = "none"


DUE_OFFSETS = {"today": 0, "tomorrow": 1, "week": 7, "2weeks": 14}
DUE_CODES = (*DUE_OFFSETS, NO_DUE)  # what a due-date button may carry


def due_from_choice(code: str, today: date) -> date | None:
    """The date behind a due-date button code (one of DUE_CODES)."""
    if code == NO_DUE:
        return None
    return today + timedelta(days=DUE_OFFSETS[code])


def example_date(ctx: Ctx) -> str:
    """A date a week from today, as an example to type."""
    return texts.fmt_date(ctx.today + timedelta(days=7))


def drop_buttons(ctx: Ctx) -> None:
    """Remove the keyboard of the prompt whose button was pressed, so it cannot be pressed twice."""
    message = ctx.callback.message if ctx.callback else None
    if message is not None:
        ctx.reply(lambda: ctx.bot.edit_message_reply_markup(ctx.chat_id, message.message_id,
                                                            reply_markup=None))


def in_state(ctx: Ctx, *states: str) -> bool:
    """Whether a dialogue button still belongs to the current dialogue (else: stale alert)."""
    if ctx.dialog.state in states:
        return True
    ctx.answer(texts.STALE_BUTTON, alert=True)
    return False


def parse_typed_date(ctx: Ctx, text: str, choices: str) -> date | None:
    """A typed due date, or None after asking again with an example and the date buttons."""
    try:
        return parse_future_date(text, ctx.today)
    except InvalidDate:
        reply = texts.BAD_DATE.format(text=texts.e(text[:50]), example=example_date(ctx))
    except PastDate as err:
        reply = texts.PAST_DATE.format(date=texts.fmt_date(err.details["value"]),
                                       example=example_date(ctx))
    except DateTooFar as err:
        reply = texts.DATE_TOO_FAR.format(limit=texts.fmt_date(err.details["limit"]),
                                          example=example_date(ctx))
    ctx.send(reply, keyboards.due_keyboard(choices))
    return None


# --- take ------------------------------------------------------------------------------------


def refuse_take(ctx: Ctx, row: devices.DeviceRow) -> bool:
    """Tell why the device cannot be taken now; False when it can."""
    me = ctx.me.id
    if row.loan is not None:
        if row.loan.person_id == me:
            ctx.answer(texts.ALREADY_YOURS, alert=True)
        else:
            # An old card: say who has the device now and bring the card up to date.
            line = texts.TAKE_HELD_NOW.format(**device_title(row.device),
                                              holder=render.person_name(row.loan.person))
            browse.send_card(ctx, row.device.id, edit=True, prefix=line, row=row)
        return True
    if row.hold is not None and row.hold.person_id != me:
        until = texts.fmt_time(local_time(queue.hold_end(row.hold), ctx.config))
        ctx.send(texts.HELD_FOR_OTHER.format(**device_title(row.device), until=until,
                                             person=render.person_name(row.hold.person)))
        return True
    return False


def on_take(ctx: Ctx, args: Args) -> None:
    """take:<id> — start the take dialogue: place, then due date."""
    # The take itself checks the holds again under its lock (Unsettled below).
    browse.before_read(ctx, args.int(0), at_start=True)
    row = devices.card(args.int(0), ctx.now)
    if refuse_take(ctx, row):
        return
    ctx.dialog.set(TAKE_PLACE, device_id=row.device.id)
    ctx.send(texts.ASK_PLACE.format(**device_title(row.device)),
             keyboards.skip_cancel_keyboard(pack("tkp", "skip")))


def ask_due(ctx: Ctx, place: str) -> None:
    """Second step of taking: the due date."""
    ctx.dialog.update(TAKE_DUE, place=place)
    # A button («Пропустить») turns its own prompt into the next question: one call.
    ctx.show(texts.ASK_DUE.format(example=example_date(ctx)), keyboards.due_keyboard("tkd"))


def on_take_place(ctx: Ctx, message: types.Message) -> None:
    """Typed place."""
    place = (message.text or "").strip()
    if not place:
        ctx.send(texts.ASK_PLACE.format(**device_title(catalog.get_device(ctx.dialog.data["device_id"]))),
                 keyboards.skip_cancel_keyboard(pack("tkp", "skip")))
        return
    if len(place) > loans.PLACE_MAX:
        ctx.send(texts.PLACE_TOO_LONG.format(limit=loans.PLACE_MAX))
        return
    ask_due(ctx, place)


def on_take_skip_place(ctx: Ctx, args: Args) -> None:
    """«Пропустить» the place."""
    if in_state(ctx, TAKE_PLACE):
        ask_due(ctx, "")


def finish_take(ctx: Ctx, due: date | None) -> None:
    """Record the loan and confirm with the card."""
    data = ctx.dialog.data
    device_id = int(data["device_id"])

    def record(settled: bool) -> Loan:
        return loans.take(device_id, ctx.me, now=ctx.now, place=data.get("place", ""),
                          due_date=due, settled=settled)

    refusal: DomainError | None = None
    try:
        try:
            # Leaving the dialogue commits with the loan: one commit instead of two. The take
            # checks the holds itself and asks for settling only when someone is in line.
            loan = ctx.dialog.clear_with(lambda: record(False))
        except Unsettled:
            browse.before_read(ctx, device_id)  # pass run-out holds on and tell the people
            loan = record(True)
    except (NotFound, AlreadyTaken, HeldForQueue) as err:
        refusal = err
    # A date button turns the question into the answer in place (one call); a typed date
    # gets a new message (ctx.show sends when no button was pressed).
    if refusal is None:
        # The line the take read under its lock is the card's: no second read.
        row = devices.card(loan.device.id, ctx.now)
        row.queue = loan.queue_after
        browse.send_card(ctx, loan.device.id,
                         prefix=texts.TAKEN.format(**device_title(loan.device)), row=row,
                         edit=True)
    elif isinstance(refusal, NotFound):
        ctx.show(texts.DEVICE_GONE)
    elif isinstance(refusal, AlreadyTaken):
        holder = refusal.details["holder"]
        ctx.show(texts.TAKEN_BY_OTHER.format(**device_title(catalog.get_device(device_id)),
                                             holder=render.person_name(holder) if holder else "—"))
    else:
        until = texts.fmt_time(local_time(refusal.details["until"], ctx.config))
        device = catalog.get_device(device_id)
        ctx.show(texts.HELD_FOR_OTHER.format(**device_title(device), until=until,
                                             person=render.person_name(refusal.details["person"])))


def on_take_due_text(ctx: Ctx, message: types.Message) -> None:
    """Typed due date."""
    due = parse_typed_date(ctx, (message.text or "").strip(), "tkd")
    if due is not None:
        finish_take(ctx, due)


def on_take_due_choice(ctx: Ctx, args: Args) -> None:
    """tkd:<choice>."""
    if in_state(ctx, TAKE_DUE):
        finish_take(ctx, due_from_choice(args.choice(0, DUE_CODES), ctx.today))


# --- return ----------------------------------------------------------------------------------


def on_return(ctx: Ctx, args: Args) -> None:
    """ret:<id>[:new] — ask to confirm the return (in a new message when asked to).

    A reminder lists several devices: its «Вернуть» asks in a new message so the reminder
    keeps its other buttons.
    """
    device_id = args.int(0)
    loans.holders_loan(device_id, ctx.me)
    device = catalog.get_device(device_id)
    show = ctx.send if args[1:] == [NEW_MESSAGE] else ctx.show
    show(texts.ASK_RETURN.format(**device_title(device)), keyboards.confirm_keyboard(
        texts.BTN_YES_RETURNED, pack("reto", device_id), pack("card", device_id)))


def on_return_confirmed(ctx: Ctx, args: Args) -> None:
    """reto:<id> — record the return."""
    loan = loans.return_device(args.int(0), ctx.me, now=ctx.now)
    for hook in ctx.bot.after_return:
        hook(ctx, loan)
    browse.send_card(ctx, loan.device.id, edit=True, settled=True,
                     prefix=texts.RETURNED.format(**device_title(loan.device)))


# --- change due date / place -----------------------------------------------------------------


def on_change_due(ctx: Ctx, args: Args) -> None:
    """due:<id> — ask the holder for a new due date."""
    device_id = args.int(0)
    loans.holders_loan(device_id, ctx.me)
    device = catalog.get_device(device_id)
    ctx.dialog.set(CHANGE_DUE, device_id=device_id)
    ctx.send(texts.ASK_NEW_DUE.format(**device_title(device), example=example_date(ctx)),
             keyboards.due_keyboard("cdd"))


def finish_change_due(ctx: Ctx, due: date | None) -> None:
    """Store the new due date and show the card."""
    device_id = int(ctx.dialog.data["device_id"])
    ctx.dialog.clear()
    loan = loans.change(device_id, ctx.me, now=ctx.now, due_date=due, clear_due=due is None)
    shown = texts.fmt_date(due) if due else texts.MINE_NO_DUE
    browse.send_card(ctx, device_id, edit=True, prefix=texts.DUE_CHANGED.format(
        **device_title(loan.device), due=shown))


def on_change_due_text(ctx: Ctx, message: types.Message) -> None:
    """Typed new due date."""
    due = parse_typed_date(ctx, (message.text or "").strip(), "cdd")
    if due is not None:
        finish_change_due(ctx, due)


def on_change_due_choice(ctx: Ctx, args: Args) -> None:
    """cdd:<choice>."""
    if in_state(ctx, CHANGE_DUE):
        finish_change_due(ctx, due_from_choice(args.choice(0, DUE_CODES), ctx.today))


def on_change_place(ctx: Ctx, args: Args) -> None:
    """place:<id> — ask the holder where the device is now."""
    device_id = args.int(0)
    loans.holders_loan(device_id, ctx.me)
    ctx.dialog.set(CHANGE_PLACE, device_id=device_id)
    ctx.send(texts.ASK_NEW_PLACE.format(**device_title(catalog.get_device(device_id))),
             keyboards.cancel_keyboard())


def on_change_place_text(ctx: Ctx, message: types.Message) -> None:
    """Typed new place."""
    place = (message.text or "").strip()
    if not place:
        ctx.send(texts.ASK_NEW_PLACE.format(**device_title(catalog.get_device(ctx.dialog.data[
            "device_id"]))), keyboards.cancel_keyboard())
        return
    if len(place) > loans.PLACE_MAX:
        ctx.send(texts.PLACE_TOO_LONG.format(limit=loans.PLACE_MAX), keyboards.cancel_keyboard())
        return
    device_id = int(ctx.dialog.data["device_id"])
    ctx.dialog.clear()
    loan = loans.change(device_id, ctx.me, now=ctx.now, place=place)
    browse.send_card(ctx, device_id, prefix=texts.PLACE_CHANGED.format(
        **device_title(loan.device), place=texts.e(place)))


def register(bot: DevtrackBot) -> None:
    """Wire the loan buttons and dialogue steps."""
    bot.routes.callback("take", on_take)
    bot.routes.callback("tkp", on_take_skip_place)
    bot.routes.callback("tkd", on_take_due_choice)
    bot.routes.callback("ret", on_return)
    bot.routes.callback("reto", on_return_confirmed)
    bot.routes.callback("due", on_change_due)
    bot.routes.callback("cdd", on_change_due_choice)
    bot.routes.callback("place", on_change_place)
    bot.routes.step(TAKE_PLACE, on_take_place)
    bot.routes.step(TAKE_DUE, on_take_due_text)
    bot.routes.step(CHANGE_DUE, on_change_due_text)
    bot.routes.step(CHANGE_PLACE, on_change_place_text)
