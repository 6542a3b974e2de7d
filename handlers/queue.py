"""The queue on a device card, «В очередь» / «Выйти из очереди», hold messages and /wishlist."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from telebot import types

from handlers import browse, keyboards, render, texts
from handlers.context import Ctx, ctx_of
from handlers.keyboards import button
from handlers.routing import Args
from handlers.texts import device_title
from inventory import catalog, queue
from inventory.clock import local_time
from inventory.devices import DeviceRow
from inventory.errors import AlreadyHolder, AlreadyQueued, DeviceFree, NoHold, NotQueued
from notices import pack
from notices.holds import expire_and_tell, send_hold_offer

if TYPE_CHECKING:
    from dispatch import DevtrackBot
    from models import Loan

logger = logging.getLogger(__name__)

Buttons = list[list[types.InlineKeyboardButton]]


# --- hold messages ---------------------------------------------------------------------------


def announce(ctx: Ctx, offers: Iterable[queue.Offer | None]) -> None:
    """Send the hold message of every new hold (None entries are skipped)."""
    for offer in offers:
        if offer is not None:
            send_hold_offer(ctx.bot.notifier, offer, ctx.config)


def settle(ctx: Ctx, device_id: int | None, at_start: bool) -> None:
    """before_read hook: pass run-out holds on (one device, or all) and tell the people.

    At the start of an update the first statement has already asked whether any hold is due
    (Ctx.holds_due): when none was, there is nothing to look for.
    """
    if at_start and ctx.holds_due is False:
        return
    expire_and_tell(ctx.bot.notifier, ctx.config, ctx.now, device_id)


def after_return(ctx: Ctx, loan: Loan) -> None:
    """after_return hook: hold the returned device for the first in line."""
    announce(ctx, [queue.start_hold(loan.device.id, ctx.now, ctx.config.hold_hours)])


# --- the card --------------------------------------------------------------------------------


def card_extension(ctx: Ctx, row: DeviceRow) -> tuple[list[str], Buttons]:
    """Queue lines and buttons of a card (one query, whatever the queue's length)."""
    me = ctx.person.id if ctx.person else None
    line = (queue.queue_of(row.device.id, ctx.now) if row.queue is None
            else queue.DeviceQueue(row.queue, ctx.now))
    waiting = line.waiting
    holder_is_me = row.loan is not None and row.loan.person_id == me
    lines: list[str] = []
    if waiting:
        lines.append(texts.QUEUE_COUNT.format(count=texts.people_count(len(waiting))))
    mine, buttons = my_place(ctx, row, line, me)
    lines.extend(mine)
    if holder_is_me and waiting:
        lines.append(texts.QUEUE_HOLDER_WARNING.format(count=texts.people_count(len(waiting))))
    if ctx.is_admin and line.entries:
        lines.extend(admin_lines(ctx, line))
    return lines, buttons


def my_place(ctx: Ctx, row: DeviceRow, line: queue.DeviceQueue,
             me: int | None) -> tuple[list[str], Buttons]:
    """The viewer's own place: their hold or position with the way out, or «В очередь»."""
    mine = line.entry_of(me) if me is not None else None
    if mine is not None and me is not None:
        live = queue.is_live(mine, ctx.now)
        text = texts.QUEUE_HOLD_YOURS if live else texts.QUEUE_YOUR_PLACE.format(
            position=line.position_of(me), count=len(line.waiting))
        return [text], [[button(texts.BTN_DECLINE_HOLD, "hdx", row.device.id) if live
                         else button(texts.BTN_LEAVE_QUEUE, "ql", row.device.id)]]
    holder_is_me = row.loan is not None and row.loan.person_id == me
    if me is not None and not holder_is_me and (row.loan is not None or line.entries):
        return [], [[button(texts.BTN_JOIN_QUEUE, "qj", row.device.id)]]
    return [], []


def admin_lines(ctx: Ctx, line: queue.DeviceQueue) -> list[str]:
    """The whole queue in order, the live hold first."""
    lines = ["", texts.QUEUE_ADMIN_TITLE]
    hold = line.hold
    if hold is not None:
        until = texts.fmt_time(local_time(queue.hold_end(hold), ctx.config))
        lines.append(texts.QUEUE_ADMIN_HOLD_LINE.format(person=render.person_name(hold.person),
                                                        until=until))
    for position, entry in enumerate(line.waiting, start=1):
        lines.append(texts.QUEUE_ADMIN_LINE.format(position=position,
                                                   person=render.person_name(entry.person)))
    return lines


# --- buttons ---------------------------------------------------------------------------------


def on_join(ctx: Ctx, args: Args) -> None:
    """qj:<device id> — «В очередь»."""
    device_id = args.int(0)
    browse.before_read(ctx, device_id)
    try:
        joined = queue.join(device_id, ctx.me, ctx.now)
    except DeviceFree as err:
        device = err.details["device"]
        ctx.answer()
        ctx.send(texts.QUEUE_DEVICE_FREE.format(**device_title(device)),
                 keyboards.rows([button(texts.BTN_TAKE, "take", device.id)]))
        return
    except AlreadyQueued as err:
        until = err.details["hold_until"]
        if until is not None:
            ctx.answer(texts.QUEUE_ALREADY_HELD.format(
                until=texts.fmt_time(local_time(until, ctx.config))), alert=True)
        else:
            ctx.answer(texts.QUEUE_ALREADY.format(position=err.details["position"]), alert=True)
        return
    except AlreadyHolder:
        ctx.answer(texts.ALREADY_YOURS, alert=True)
        return
    browse.send_card(ctx, device_id, edit=True, prefix=texts.JOINED.format(
        **device_title(joined.entry.device), position=joined.position))


def on_leave(ctx: Ctx, args: Args) -> None:
    """ql:<device id> — «Выйти из очереди» (a hold the person had passes on)."""
    device_id = args.int(0)
    try:
        offer = queue.leave(device_id, ctx.me, ctx.now, ctx.config.hold_hours)
    except NotQueued:
        ctx.answer(texts.QUEUE_NOT_IN, alert=True)
        return
    _stepped_back(ctx, device_id, offer, texts.LEFT_QUEUE)


def on_decline_hold(ctx: Ctx, args: Args) -> None:
    """hdx:<device id> — «Отказаться» from a hold: the next in line gets it."""
    device_id = args.int(0)
    browse.before_read(ctx, device_id)
    try:
        offer = queue.decline_hold(device_id, ctx.me, ctx.now, ctx.config.hold_hours)
    except NoHold:
        ctx.answer(texts.HOLD_GONE, alert=True)
        return
    _stepped_back(ctx, device_id, offer, texts.HOLD_DECLINED)


def _stepped_back(ctx: Ctx, device_id: int, offer: queue.Offer | None, done: str) -> None:
    """After leaving the line or a hold: tell whoever it passed to, redraw the card with done."""
    announce(ctx, [offer])
    browse.send_card(ctx, device_id, edit=True, prefix=done.format(
        **device_title(catalog.get_device(device_id))))


# --- /wishlist -------------------------------------------------------------------------------


def wish_line(row: queue.WishRow, ctx: Ctx) -> str:
    """One device the person waits for: place, holder and due date (or the hold for them)."""
    if row.entry is not None and queue.is_live(row.entry, ctx.now):
        until = texts.fmt_time(local_time(queue.hold_end(row.entry), ctx.config))
        return texts.WISHLIST_LINE_HOLD.format(**device_title(row.device), until=until)
    return texts.WISHLIST_LINE.format(**device_title(row.device), position=row.position,
                                      state=render.line_state(row, ctx.today))


def show_wishlist(ctx: Ctx, asked: int) -> None:
    """A page of /wishlist, editing the list message when paging."""
    page = queue.wishlist(ctx.me, asked, ctx.now)
    if page.total == 0:
        ctx.show(texts.WISHLIST_EMPTY)
        return
    if asked != page.page and ctx.callback is not None:
        ctx.answer(texts.PAGE_GONE, alert=True)
    text = texts.WISHLIST_TITLE.format(total=page.total) + "\n\n" + "\n".join(
        wish_line(r, ctx) for r in page.rows if isinstance(r, queue.WishRow))
    ctx.show(text, keyboards.page_keyboard(page, lambda p: pack("wl", p)))


def on_wishlist(message: types.Message) -> None:
    """/wishlist."""
    ctx = ctx_of(message)
    browse.before_read(ctx, at_start=True)
    show_wishlist(ctx, 1)


def on_wishlist_page(ctx: Ctx, args: Args) -> None:
    """wl:<page>."""
    asked = args.int(0)
    browse.before_read(ctx, at_start=True)
    show_wishlist(ctx, asked)


def register(bot: DevtrackBot) -> None:
    """Wire the queue: card lines, buttons, /wishlist, expiry and the after-return hold."""
    bot.register_message_handler(on_wishlist, commands=["wishlist"])
    bot.routes.callback("qj", on_join)
    bot.routes.callback("ql", on_leave)
    bot.routes.callback("hdx", on_decline_hold)
    bot.routes.callback("wl", on_wishlist_page)
    bot.card_extensions.append(card_extension)
    bot.before_read.append(settle)
    bot.after_return.append(after_return)
