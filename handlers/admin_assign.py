"""Admins assign a device to a person (search → pick → place → date) or unassign it."""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING

from telebot import types

from handlers import admin_common, affected, browse, keyboards, render, texts
from handlers.admin_common import button, nav_row
from handlers.context import Ctx
from handlers.lending import DUE_CODES, drop_buttons, due_from_choice, example_date
from handlers.routing import ROLE_ADMIN, Args, BadButton
from handlers.texts import device_title
from inventory import admin_people, catalog, loans
from inventory.dates import parse_future_date
from inventory.errors import (
    AlreadyReturned,
    AlreadyTaken,
    DomainError,
    DomainNotAllowed,
    InvalidEmail,
    NotFound,
)

if TYPE_CHECKING:
    from dispatch import DevtrackBot
    from models import Person

logger = logging.getLogger(__name__)

WHO, PLACE, DUE = "assign:who", "assign:place", "assign:due"
STEP_STATES = {"place": PLACE, "due": DUE}


def chosen(ctx: Ctx) -> Person:
    """The person picked in this dialogue (not yet created when only an email is known)."""
    data = ctx.dialog.data
    return admin_people.assignee(data.get("person_id"), data.get("email") or "")


# --- who -------------------------------------------------------------------------------------


def on_start(ctx: Ctx, args: Args) -> None:
    """asg:<device id> — ask whom to give the device to."""
    device = admin_common.free_device_or_alert(ctx, args.int(0), texts.ASSIGN_ALREADY_HELD)
    if device is None:
        return
    ctx.dialog.set(WHO, device_id=device.id)
    ctx.send(texts.ASSIGN_ASK_WHO.format(**device_title(device)), keyboards.cancel_keyboard())


def on_who_text(ctx: Ctx, message: types.Message) -> None:
    """A typed email, name or @username: show who matches."""
    device = catalog.get_device(int(ctx.dialog.data["device_id"]))
    query = (message.text or "").strip()
    found = admin_people.search(query, 1) if query else admin_people.PeoplePage([], 1, 1, 0)
    if found.total == 0:
        try:
            email = admin_people.clean_email(query, ctx.config.email_domains)
        except (InvalidEmail, DomainNotAllowed):
            ctx.send(texts.ASSIGN_NOBODY.format(query=texts.e(query[:100]),
                                                example=texts.EXAMPLE_EMAIL),
                     keyboards.cancel_keyboard())
            return
        ctx.dialog.update(email=email)
        ctx.send(texts.ASSIGN_NEW_EMAIL.format(email=texts.e(email)), keyboards.rows(
            [button(texts.BTN_ASSIGN_NEW.format(email=email[:40]), "asgp", device.id, "new")],
            nav_row(None)))
        return
    rows = [[button(texts.USER_BUTTON.format(name=(p.name or p.email)[:30], email=p.email[:40]),
                    "asgp", device.id, p.id)] for p in found.people]
    text = texts.ASSIGN_FOUND.format(**device_title(device))
    if found.total > len(found.people):
        text += "\n" + texts.ASSIGN_FOUND_MORE.format(shown=len(found.people), total=found.total)
    ctx.send(text, keyboards.rows(*rows, nav_row(None)))


def on_pick(ctx: Ctx, args: Args) -> None:
    """asgp:<device id>:<person id | new> — the person is chosen: ask the place."""
    device_id = args.int(0)
    if ctx.dialog.state != WHO or ctx.dialog.data.get("device_id") != device_id:
        ctx.answer(texts.STALE_BUTTON, alert=True)
        return
    if args[1] == "new":
        if not ctx.dialog.data.get("email"):
            raise BadButton("no email to assign to")
        ctx.dialog.update(person_id=None)
    else:
        ctx.dialog.update(person_id=admin_people.get_person(args.int(1)).id, email="")
    drop_buttons(ctx)
    ask_place(ctx)


def ask_place(ctx: Ctx, error: str = "") -> None:
    """Second step: where the device will be."""
    device = catalog.get_device(int(ctx.dialog.data["device_id"]))
    ctx.dialog.update(PLACE)
    text = error or texts.ASSIGN_ASK_PLACE.format(**device_title(device),
                                                  person=render.person_name(chosen(ctx)))
    ctx.send(text, keyboards.rows(
        [button(texts.BTN_SKIP, "asgs", device.id, "place", "skip")],
        nav_row(("asgs", device.id, "place", "back"))))


def ask_due(ctx: Ctx, error: str = "") -> None:
    """Third step: the due date."""
    device_id = int(ctx.dialog.data["device_id"])
    ctx.dialog.update(DUE)
    ctx.send(error or texts.ASSIGN_ASK_DUE.format(example=example_date(ctx)), keyboards.rows(
        *admin_common.due_rows("asgs", device_id, "due", "pick"),
        nav_row(("asgs", device_id, "due", "back"))))


def on_place_text(ctx: Ctx, message: types.Message) -> None:
    """Typed place."""
    place = (message.text or "").strip()
    if not place or len(place) > loans.PLACE_MAX:
        ask_place(ctx, texts.PLACE_TOO_LONG.format(limit=loans.PLACE_MAX))
        return
    ctx.dialog.update(place=place)
    ask_due(ctx)


def on_due_text(ctx: Ctx, message: types.Message) -> None:
    """Typed due date."""
    text = (message.text or "").strip()
    try:
        due = parse_future_date(text, ctx.today)
    except DomainError as err:
        ask_due(ctx, admin_common.date_error(ctx, err, text))
        return
    finish(ctx, due)


def on_step_button(ctx: Ctx, args: Args) -> None:
    """asgs:<device id>:<step>:<action>[:arg] — skip the place, pick a date, go back."""
    device_id, step, action = args.int(0), args[1], args[2]
    if ctx.dialog.state != STEP_STATES[step] or ctx.dialog.data.get("device_id") != device_id:
        ctx.answer(texts.STALE_BUTTON, alert=True)
        return
    if action == "back":
        drop_buttons(ctx)
        if step == "place":
            device = catalog.get_device(device_id)
            ctx.dialog.update(WHO)
            ctx.send(texts.ASSIGN_ASK_WHO.format(**device_title(device)),
                     keyboards.cancel_keyboard())
        else:
            ask_place(ctx)
    elif action == "skip" and step == "place":
        drop_buttons(ctx)
        ctx.dialog.update(place="")
        ask_due(ctx)
    elif action == "pick" and step == "due":
        due = due_from_choice(args.choice(3, DUE_CODES), ctx.today)
        drop_buttons(ctx)
        finish(ctx, due)
    else:
        raise BadButton(action)


def finish(ctx: Ctx, due: date | None) -> None:
    """Record the loan on the chosen person and tell them."""
    data = ctx.dialog.data
    ctx.dialog.clear()
    device_id = int(data["device_id"])
    try:
        loan = admin_people.assign(device_id, person_id=data.get("person_id"),
                                   email=data.get("email") or "", actor=ctx.me, now=ctx.now,
                                   place=data.get("place") or "", due_date=due)
    except AlreadyTaken as err:
        device = catalog.get_device(device_id)
        holder = err.details.get("holder")
        ctx.send(texts.ASSIGN_TAKEN.format(**device_title(device), holder=render.person_name(holder)
                                           if holder else texts.EMPTY_VALUE))
        return
    except NotFound as err:
        ctx.send(texts.USER_GONE if "person_id" in err.details else texts.DEVICE_GONE)
        return
    device, person = loan.device, loan.person
    due_text = texts.NOTIFY_ASSIGNED_DUE.format(date=texts.fmt_date(due)) if due else ""
    if person.telegram_id != ctx.user_id:
        ctx.bot.notifier.send(person, texts.NOTIFY_ASSIGNED.format(**device_title(device),
                                                                    due=due_text))
    affected.holds_cleared(ctx.bot.notifier, loan.holds_cleared, device, person)
    browse.send_card(ctx, device.id, prefix=texts.ASSIGNED.format(
        **device_title(device), person=render.person_name(person)))


# --- unassign --------------------------------------------------------------------------------


def on_unassign(ctx: Ctx, args: Args) -> None:
    """una:<device id> — ask to confirm taking the device off its holder."""
    device = catalog.get_device(args.int(0))
    loan = loans.open_loan(device.id)
    if loan is None:
        raise AlreadyReturned(device_id=device.id)
    ctx.show(texts.UNASSIGN_ASK.format(**device_title(device),
                                       holder=render.person_name(loan.person)),
             keyboards.confirm_keyboard(texts.BTN_YES_UNASSIGN, f"unao:{device.id}:{loan.id}",
                                        f"edit:{device.id}"))


def on_unassign_confirmed(ctx: Ctx, args: Args) -> None:
    """unao:<device id>:<loan id> — close that loan (not a newer one) and tell the holder."""
    device_id, loan_id = args.int(0), args.int(1)
    current = loans.holders_loan(device_id, ctx.me, admin=True)
    if current.id != loan_id:
        raise AlreadyReturned(device_id=device_id)
    loan = loans.return_device(device_id, ctx.me, now=ctx.now, admin=True)
    for hook in ctx.bot.after_return:
        hook(ctx, loan)
    holder = current.person
    if holder.telegram_id != ctx.user_id:
        ctx.bot.notifier.send(holder, texts.NOTIFY_UNASSIGNED.format(**device_title(loan.device)))
    browse.send_card(ctx, device_id, edit=True, prefix=texts.UNASSIGNED.format(
        **device_title(loan.device), holder=render.person_name(holder)))


def register(bot: DevtrackBot) -> None:
    """Wire the assign and unassign buttons and steps (admins only)."""
    bot.routes.callback("asg", on_start, role=ROLE_ADMIN)
    bot.routes.callback("asgp", on_pick, role=ROLE_ADMIN)
    bot.routes.callback("asgs", on_step_button, role=ROLE_ADMIN)
    bot.routes.callback("una", on_unassign, role=ROLE_ADMIN)
    bot.routes.callback("unao", on_unassign_confirmed, role=ROLE_ADMIN)
    bot.routes.step(WHO, on_who_text, role=ROLE_ADMIN)
    bot.routes.step(PLACE, on_place_text, role=ROLE_ADMIN)
    bot.routes.step(DUE, on_due_text, role=ROLE_ADMIN)
