"""/add: one device through a dialogue — number, name, category, serial, optional fields, holder."""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from telebot import types

from handlers import admin_common, browse, keyboards, texts
from handlers.admin_common import button, nav_row
from handlers.context import Ctx, ctx_of
from handlers.lending import DUE_CODES, drop_buttons, due_from_choice, example_date
from handlers.routing import ROLE_ADMIN, Args, BadButton
from inventory import admin_people, catalog, loans, people
from inventory.dates import parse_future_date
from inventory.errors import Conflict, DomainError

if TYPE_CHECKING:
    from dispatch import DevtrackBot
    from models import Device

logger = logging.getLogger(__name__)

PREFIX = "add"
MAIN_STEPS = ("number", "name", "category", "serial", "registered_on", "firmware", "comment",
              "holder")
STEP_NUMBER = {**{step: i + 1 for i, step in enumerate(MAIN_STEPS)},
               "newcat": 3, "place": 8, "due": 8}
STEPS = (*MAIN_STEPS, "newcat", "place", "due", "confirm")
OPTIONAL = ("registered_on", "firmware", "comment", "holder", "place")
PREVIOUS = {
    "name": "number", "category": "name", "newcat": "category", "serial": "category",
    "registered_on": "serial", "firmware": "registered_on", "comment": "firmware",
    "holder": "comment", "place": "holder", "due": "place",
}
NEXT = {
    "number": "name", "name": "category", "category": "serial", "newcat": "serial",
    "serial": "registered_on", "registered_on": "firmware", "firmware": "comment",
    "comment": "holder", "holder": "place", "place": "due", "due": "confirm",
}
ASK = {
    "number": texts.ADD_ASK_NUMBER, "name": texts.ADD_ASK_NAME,
    "category": texts.ADD_ASK_CATEGORY, "newcat": texts.ADD_ASK_NEW_CATEGORY,
    "serial": texts.ADD_ASK_SERIAL, "registered_on": texts.ADD_ASK_REGISTERED,
    "firmware": texts.ADD_ASK_FIRMWARE, "comment": texts.ADD_ASK_COMMENT,
}


def state_of(step: str) -> str:
    """The dialogue state of a step."""
    return f"{PREFIX}:{step}"


def current_step(ctx: Ctx) -> str:
    """The step the chat is in ("" outside the dialogue)."""
    state = ctx.dialog.state or ""
    return state.split(":", 1)[1] if state.startswith(PREFIX + ":") else ""


def previous_step(ctx: Ctx, step: str) -> str:
    """Where «Назад» leads from a step."""
    if step == "confirm":
        return "due" if ctx.dialog.data.get("holder") else "holder"
    if step == "serial" and ctx.dialog.data.get("new_category"):
        return "newcat"
    return PREVIOUS[step]


def holder_label(ctx: Ctx) -> str:
    """The chosen holder's email (escaped)."""
    return texts.e(ctx.dialog.data.get("holder", ""))


# --- prompts ---------------------------------------------------------------------------------


def keyboard(ctx: Ctx, step: str) -> types.InlineKeyboardMarkup:
    """Buttons of a step: choices, «Пропустить», «Назад», «Отмена»."""
    rows: list[list[types.InlineKeyboardButton]] = []
    if step == "category":
        rows.extend(admin_common.category_rows(lambda c: (PREFIX, step, "cat", c.id)))
        rows.append([button(texts.BTN_NEW_CATEGORY, PREFIX, step, "newcat")])
    if step == "due":
        rows.extend(admin_common.due_rows(PREFIX, step, "due"))
    if step == "confirm":
        rows.append([button(texts.BTN_CONFIRM, PREFIX, step, "ok")])
    if step in OPTIONAL:
        rows.append([button(texts.BTN_SKIP, PREFIX, step, "skip")])
    back = None if step == "number" else (PREFIX, step, "back")
    rows.append(nav_row(back))
    return keyboards.rows(*rows)


def prompt(ctx: Ctx, step: str) -> str:
    """The question of a step, with the value given earlier when coming back to it."""
    if step == "confirm":
        return summary(ctx)
    head = texts.ADD_STEP.format(step=STEP_NUMBER[step], steps=len(MAIN_STEPS))
    if step == "holder":
        text = texts.ADD_ASK_HOLDER.format(example=texts.EXAMPLE_EMAIL)
    elif step == "place":
        text = texts.ADD_ASK_PLACE.format(holder=holder_label(ctx))
    elif step == "due":
        text = texts.ADD_ASK_DUE.format(holder=holder_label(ctx), example=example_date(ctx))
    elif step == "newcat":
        text = ASK[step].format(example=texts.e(texts.EXAMPLE_CATEGORY))
    elif step == "category":
        text = ASK[step]
    else:
        text = ASK[step].format(example=texts.e(admin_common.example(step)))
    key = "category" if step == "newcat" else step
    value = ctx.dialog.data.get(key)
    if step == "newcat" and not ctx.dialog.data.get("new_category"):
        value = None  # the earlier answer was one of the existing categories
    if value not in (None, "") and step not in ("place", "due"):
        if key == "registered_on":
            value = date.fromisoformat(value)
        text += "\n" + texts.ADD_CURRENT.format(value=admin_common.shown(key, value))
    return head + text


def ask(ctx: Ctx, step: str, error: str = "") -> None:
    """Move to a step and ask its question (or repeat it after a refused answer)."""
    if ctx.dialog.state != state_of(step):
        ctx.dialog.update(state_of(step))
    ctx.send(error or prompt(ctx, step), keyboard(ctx, step))


def summary(ctx: Ctx) -> str:
    """Everything collected, for the final «Подтвердить»."""
    data = ctx.dialog.data
    registered = date.fromisoformat(data["registered_on"]) if data.get("registered_on") else None
    lines = [
        texts.CARD_TITLE.format(number=data["number"], name=texts.e(data["name"])),
        texts.CARD_CATEGORY.format(category=texts.e(data["category"])),
        texts.CARD_SERIAL.format(serial=texts.e(data["serial"])),
        texts.CARD_REGISTERED.format(date=admin_common.shown("registered_on", registered)),
        texts.CARD_FIRMWARE.format(firmware=admin_common.shown("firmware", data.get("firmware"))),
        texts.CARD_COMMENT.format(comment=admin_common.shown("comment", data.get("comment"))),
        "",
    ]
    email = data.get("holder")
    if email:
        person = people.by_email(email)
        registered_person = person is not None and person.telegram_id is not None
        status = texts.ADD_HOLDER_REGISTERED if registered_person else \
            texts.ADD_HOLDER_UNREGISTERED
        lines.append(texts.ADD_SUMMARY_HOLDER.format(email=texts.e(email), status=status))
        if data.get("place"):
            lines.append(texts.STATE_PLACE.format(place=texts.e(data["place"])))
        due = data.get("due")
        lines.append(texts.STATE_DUE.format(date=texts.fmt_date(date.fromisoformat(due)))
                     if due else texts.STATE_NO_DUE)
    else:
        lines.append(texts.ADD_SUMMARY_FREE)
    return texts.ADD_SUMMARY.format(lines="\n".join(lines))


# --- answers ---------------------------------------------------------------------------------


def accept(ctx: Ctx, step: str, text: str) -> str | None:
    """Store a typed answer and return the next step; None after a refusal was sent."""
    data = ctx.dialog.data
    if step in ("number", "name", "serial", "registered_on", "firmware", "comment"):
        value: Any = catalog.parse_field(step, text, today=ctx.today)
        ctx.dialog.update(**{step: value.isoformat() if isinstance(value, date) else value})
    elif step == "category":
        category = catalog.find_category(text)
        if category is None:
            ask(ctx, step, texts.ERR_CATEGORY_UNKNOWN.format(text=texts.e(text[:100])))
            return None
        ctx.dialog.update(category=category.name, new_category=False)
    elif step == "newcat":
        name = catalog.clean_category_name(text)
        existing = catalog.find_category(name)
        ctx.dialog.update(category=existing.name if existing else name, new_category=True)
    elif step == "holder":
        email = admin_people.clean_email(text, ctx.config.email_domains)
        if email != data.get("holder"):
            ctx.dialog.update(holder=email, place="", due=None)
    elif step == "place":
        if len(text) > loans.PLACE_MAX:
            ask(ctx, step, texts.PLACE_TOO_LONG.format(limit=loans.PLACE_MAX))
            return None
        ctx.dialog.update(place=text)
    elif step == "due":
        ctx.dialog.update(due=parse_future_date(text, ctx.today).isoformat())
    elif step == "confirm":
        return "confirm"
    return NEXT[step]


def refusal(ctx: Ctx, step: str, err: DomainError, text: str) -> str:
    """The reason an answer was refused, with an example."""
    if step == "holder":
        return admin_common.email_error(ctx, err, text)
    if step == "due":
        return admin_common.date_error(ctx, err, text)
    return admin_common.field_error(err, "category" if step == "newcat" else step)


def on_text(ctx: Ctx, message: types.Message) -> None:
    """A typed answer to the current step."""
    step = current_step(ctx)
    if message.text is None:
        ask(ctx, step, texts.ERR_TEXT_ONLY.format(example=texts.e(step_example(ctx, step))))
        return
    text = message.text.strip()
    try:
        following = accept(ctx, step, text)
    except DomainError as err:
        ask(ctx, step, refusal(ctx, step, err, text))
        return
    if following is not None and ctx.dialog.data.get("fix"):
        # The answer fixed what «Подтвердить» refused: straight back to the summary.
        ctx.dialog.update(fix=False)
        following = "confirm"
    if following is not None:
        ask(ctx, following)


def step_example(ctx: Ctx, step: str) -> str:
    """An example answer for a step."""
    if step in ("holder",):
        return texts.EXAMPLE_EMAIL
    if step == "due":
        return example_date(ctx)
    if step == "place":
        return texts.EXAMPLE_PLACE
    if step in ("newcat", "category"):
        return texts.EXAMPLE_CATEGORY
    if step == "confirm":
        return texts.BTN_CONFIRM
    return admin_common.example(step)


def skip(ctx: Ctx, step: str) -> str:
    """Leave an optional step empty; returns the next step."""
    if step == "holder":
        ctx.dialog.update(holder="", place="", due=None)
        return "confirm"
    ctx.dialog.update(**{step: None if step == "registered_on" else ""})
    return NEXT[step]


def pick_category(ctx: Ctx, category_id: int) -> None:
    """An existing category was pressed: on to the serial (or ask again if it is gone)."""
    category = admin_common.category_by_id(category_id)
    drop_buttons(ctx)
    if category is None:
        ask(ctx, "category")
        return
    ctx.dialog.update(category=category.name, new_category=False)
    ask(ctx, "serial")


def on_button(ctx: Ctx, args: Args) -> None:
    """add:<step>:<action>[:arg] — the dialogue's buttons; stale ones get an alert."""
    step, action = args.choice(0, STEPS), args[1]
    if ctx.dialog.state != state_of(step):
        ctx.answer(texts.STALE_BUTTON, alert=True)
        return
    if action == "back" and step != "number":
        drop_buttons(ctx)
        ctx.dialog.update(fix=False)
        ask(ctx, previous_step(ctx, step))
    elif action == "skip" and step in OPTIONAL:
        drop_buttons(ctx)
        ask(ctx, skip(ctx, step))
    elif action == "cat" and step == "category":
        pick_category(ctx, args.int(2))
    elif action == "newcat" and step == "category":
        drop_buttons(ctx)
        ask(ctx, "newcat")
    elif action == "due" and step == "due":
        due = due_from_choice(args.choice(2, DUE_CODES), ctx.today)
        drop_buttons(ctx)
        ctx.dialog.update(due=due.isoformat() if due else None)
        ask(ctx, "confirm")
    elif action == "ok" and step == "confirm":
        drop_buttons(ctx)
        finish(ctx)
    else:
        raise BadButton(action)


def finish(ctx: Ctx) -> None:
    """Write the device (and the holder's loan) in one transaction and show its card."""
    data = ctx.dialog.data
    values = {
        "number": int(data["number"]), "name": data["name"], "category": data["category"],
        "serial": data["serial"],
        "registered_on": date.fromisoformat(data["registered_on"])
        if data.get("registered_on") else None,
        "firmware": data.get("firmware") or "", "comment": data.get("comment") or "",
    }
    due = date.fromisoformat(data["due"]) if data.get("due") else None
    try:
        device = catalog.create_device(values, actor=ctx.me, now=ctx.now,
                                       holder_email=data.get("holder") or "",
                                       place=data.get("place") or "", due_date=due)
    except Conflict as err:
        field = err.details.get("field")
        if field not in ("number", "serial"):
            raise
        ctx.dialog.update(fix=True)
        ask(ctx, field, admin_common.field_error(err, field))
        return
    ctx.dialog.clear()
    if data.get("holder"):
        tell_holder(ctx, device, data["holder"], due)
    browse.send_card(ctx, device.id, prefix=texts.ADD_DONE.format(
        number=device.number, name=texts.e(device.name)))


def tell_holder(ctx: Ctx, device: Device, email: str, due: date | None) -> None:
    """Let the person a device was recorded on know about it."""
    person = people.by_email(email)
    if person is None:
        return
    due_text = texts.NOTIFY_ASSIGNED_DUE.format(date=texts.fmt_date(due)) if due else ""
    ctx.bot.notifier.send(person, texts.NOTIFY_ASSIGNED.format(
        number=device.number, name=texts.e(device.name), due=due_text))


def on_add(message: types.Message) -> None:
    """/add — start the dialogue (a file sent as a document is the other way to add)."""
    ctx = ctx_of(message)
    ctx.dialog.set(state_of("number"))
    ask(ctx, "number")


def register(bot: DevtrackBot) -> None:
    """Wire /add, its buttons and its steps (admins only)."""
    bot.register_message_handler(on_add, commands=["add"], func=admin_common.is_admin)
    bot.routes.callback(PREFIX, on_button, role=ROLE_ADMIN)
    for step in STEPS:
        bot.routes.step(state_of(step), on_text, role=ROLE_ADMIN, media=True)
