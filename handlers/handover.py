"""Handover between colleagues: «Передать коллеге», the colleague's «Принять» / «Отклонить»."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telebot import types

from handlers import browse, keyboards, render, texts
from handlers.context import Ctx
from handlers.keyboards import button
from handlers.lending import drop_buttons, in_state
from handlers.routing import Args
from handlers.texts import device_title
from inventory import catalog, handover, loans, people, queue
from inventory.devices import DeviceRow
from inventory.errors import (
    AlreadyReturned,
    HandoverGone,
    HandoverPending,
    NotFound,
    NotHolder,
    SelfHandover,
)
from notices import Delivery

if TYPE_CHECKING:
    from dispatch import DevtrackBot
    from models import Device, Handover, Loan, Person

logger = logging.getLogger(__name__)

HANDOVER_WHO = "handover:who"
MAX_MATCHES = 8

Buttons = list[list[types.InlineKeyboardButton]]


def due_text(loan: Loan) -> str:
    """The due date of a loan as the handover messages show it."""
    return texts.fmt_date(loan.due_date) if loan.due_date else texts.MINE_NO_DUE


# --- the card --------------------------------------------------------------------------------


def card_extension(ctx: Ctx, row: DeviceRow) -> tuple[list[str], Buttons]:
    """The holder's «Передать коллеге» / pending offer, the colleague's answer buttons."""
    if row.loan is None or ctx.person is None:
        return [], []
    me = ctx.person.id
    offer = row.offer  # the holder's own: one left over from an earlier holder is not shown
    if row.loan.person_id == me:
        if offer is None:
            return [], [[button(texts.BTN_HANDOVER, "ho", row.device.id)]]
        return ([texts.HANDOVER_PENDING_LINE.format(person=render.person_name(offer.to_person))],
                [[button(texts.BTN_HANDOVER_CANCEL, "hoc", offer.id)]])
    if offer is not None and offer.to_person_id == me:
        holder = render.person_name(offer.from_person)
        return ([texts.HANDOVER_PENDING_FOR_YOU.format(holder=holder)],
                [[button(texts.BTN_HANDOVER_ACCEPT, "hoa", offer.id),
                  button(texts.BTN_HANDOVER_DECLINE, "hod", offer.id)]])
    return [], []


# --- the holder ------------------------------------------------------------------------------


def ask_colleague(ctx: Ctx, device: Device, reply: str = "") -> None:
    """Ask whom to hand the device to, warning when people wait for it."""
    text = reply or texts.HANDOVER_ASK.format(**device_title(device))
    waiting = len(queue.queue_of(device.id, ctx.now).waiting)
    if waiting and not reply:
        text += "\n\n" + texts.QUEUE_HOLDER_WARNING.format(count=texts.people_count(waiting))
    ctx.send(text, keyboards.cancel_keyboard())


def already_pending(ctx: Ctx, device: Device, offer: Handover | None) -> None:
    """Say that an offer is waiting already, with the button to cancel it."""
    if offer is None:  # answered meanwhile: just show the card
        browse.send_card(ctx, device.id)
        return
    ctx.send(texts.HANDOVER_ALREADY_PENDING.format(
        **device_title(device), person=render.person_name(offer.to_person)),
        keyboards.rows([button(texts.BTN_HANDOVER_CANCEL, "hoc", offer.id)]))


def on_start(ctx: Ctx, args: Args) -> None:
    """ho:<device id> — «Передать коллеге»: ask for the colleague."""
    device_id = args.int(0)
    device = loans.holders_loan(device_id, ctx.me).device
    offer = handover.pending(device_id)
    if offer is not None and offer.from_person_id == ctx.me.id:
        ctx.answer()
        already_pending(ctx, device, offer)
        return
    ctx.dialog.set(HANDOVER_WHO, device_id=device_id)
    ask_colleague(ctx, device)


def on_colleague_text(ctx: Ctx, message: types.Message) -> None:
    """Typed email, name or @username of the colleague."""
    device = catalog.find_device(int(ctx.dialog.data["device_id"]))
    if device is None:
        ctx.dialog.clear()
        ctx.send(texts.DEVICE_GONE)
        return
    query = (message.text or "").strip()
    found = handover.find_colleagues(query) if query else []
    others = [p for p in found if p.id != ctx.me.id]
    if not others:
        reply = texts.HANDOVER_SELF if found else texts.HANDOVER_NOBODY.format(
            query=texts.e(query[:100]))
        ask_colleague(ctx, device, reply)
    elif len(others) > MAX_MATCHES:
        ask_colleague(ctx, device, texts.HANDOVER_TOO_MANY.format(count=len(others)))
    elif len(others) == 1:
        offer_to(ctx, device, others[0])
    else:
        choices = [[button(texts.BTN_COLLEAGUE.format(name=(p.name or p.email)[:30],
                                                      email=p.email[:40]),
                           "hop", device.id, p.id)] for p in others]
        ctx.send(texts.HANDOVER_PICK.format(**device_title(device)),
                 keyboards.rows(*choices, [button(texts.BTN_CANCEL, "dlg", "cancel")]))


def on_pick(ctx: Ctx, args: Args) -> None:
    """hop:<device id>:<person id> — one of several matching colleagues."""
    device_id, person_id = args.int(0), args.int(1)
    if not in_state(ctx, HANDOVER_WHO):
        return
    if int(ctx.dialog.data.get("device_id", 0)) != device_id:
        ctx.answer(texts.STALE_BUTTON, alert=True)
        return
    colleague = people.registered(person_id)
    if colleague is None:
        ctx.answer(texts.STALE_BUTTON, alert=True)
        return
    drop_buttons(ctx)
    offer_to(ctx, catalog.get_device(device_id), colleague)


def offer_to(ctx: Ctx, device: Device, colleague: Person) -> None:
    """Record the offer and send the colleague «Принять» / «Отклонить»."""
    if colleague.id == ctx.me.id:
        ask_colleague(ctx, device, texts.HANDOVER_SELF)
        return
    ctx.dialog.clear()
    try:
        offer = handover.offer(device.id, ctx.me, colleague, ctx.now)
    except HandoverPending as err:
        already_pending(ctx, device, err.details["handover"])
        return
    except (NotHolder, AlreadyReturned, SelfHandover, NotFound):
        ctx.send(texts.NOT_HOLDER)
        return
    loan = loans.holders_loan(device.id, ctx.me)
    text = texts.HANDOVER_REQUEST.format(**device_title(device),
                                         holder=render.person_name(ctx.me), due=due_text(loan))
    delivery = ctx.bot.notifier.send(colleague, text,
                                     keyboards.handover_request_keyboard(offer.id))
    if delivery is not Delivery.SENT:
        handover.cancel(offer.id, ctx.me, ctx.now, reason=f"undelivered: {delivery.value}")
        ctx.send(texts.HANDOVER_UNDELIVERED.format(person=render.person_name(colleague)))
        return
    browse.send_card(ctx, device.id, prefix=texts.HANDOVER_OFFERED.format(
        **device_title(device), person=render.person_name(colleague)))


def on_cancel(ctx: Ctx, args: Args) -> None:
    """hoc:<handover id> — the holder withdraws the offer; the colleague is told."""
    try:
        offer = handover.cancel(args.int(0), ctx.me, ctx.now)
    except HandoverGone:
        ctx.answer(texts.HANDOVER_GONE, alert=True)
        return
    ctx.notify(offer.to_person, texts.HANDOVER_CANCELLED_TO.format(
        **device_title(offer.device), holder=render.person_name(offer.from_person)))
    browse.send_card(ctx, offer.device.id, edit=True,
                     prefix=texts.HANDOVER_CANCELLED.format(**device_title(offer.device)))


# --- the colleague ---------------------------------------------------------------------------


def on_accept(ctx: Ctx, args: Args) -> None:
    """hoa:<handover id> — the colleague takes the device over; both are told."""
    try:
        done = handover.accept(args.int(0), ctx.me, ctx.now)
    except HandoverGone:
        ctx.answer(texts.HANDOVER_GONE, alert=True)
        return
    offer = done.handover
    ctx.notify(offer.from_person, texts.HANDOVER_ACCEPTED_HOLDER.format(
        **device_title(done.device), person=render.person_name(ctx.me)))
    browse.send_card(ctx, done.device.id, edit=True, prefix=texts.HANDOVER_ACCEPTED_YOU.format(
        **device_title(done.device), due=due_text(done.new_loan)))


def on_decline(ctx: Ctx, args: Args) -> None:
    """hod:<handover id> — the colleague declines; the holder is told."""
    try:
        offer = handover.decline(args.int(0), ctx.me, ctx.now)
    except HandoverGone:
        ctx.answer(texts.HANDOVER_GONE, alert=True)
        return
    ctx.notify(offer.from_person, texts.HANDOVER_DECLINED_HOLDER.format(
        **device_title(offer.device), person=render.person_name(ctx.me)))
    ctx.show(texts.HANDOVER_DECLINED_YOU.format(**device_title(offer.device)))


def after_return(ctx: Ctx, loan: Loan) -> None:
    """after_return hook: a pending offer of the returned device is void; tell the colleague."""
    for offer in handover.void_pending(loan.device.id, ctx.now):
        ctx.bot.notifier.send(offer.to_person,
                              texts.HANDOVER_VOID_TO.format(**device_title(offer.device)))


def register(bot: DevtrackBot) -> None:
    """Wire the handover buttons, the colleague dialogue step and the card lines."""
    bot.routes.callback("ho", on_start)
    bot.routes.callback("hop", on_pick)
    bot.routes.callback("hoc", on_cancel)
    bot.routes.callback("hoa", on_accept)
    bot.routes.callback("hod", on_decline)
    bot.routes.step(HANDOVER_WHO, on_colleague_text)
    bot.card_extensions.append(card_extension)
    bot.after_return.append(after_return)
