"""/edit and the admin part of a card: edit fields, loan history, delete."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from telebot import types

from handlers import admin_common, affected, keyboards, render, texts
from handlers.admin_common import button, nav_row
from handlers.context import Ctx, ctx_of
from handlers.lending import drop_buttons
from handlers.routing import ROLE_ADMIN, Args, BadButton
from handlers.texts import device_title
from inventory import catalog, devices
from inventory.clock import local_date
from inventory.errors import DomainError, InvalidValue, NotAllowed, NotFound
from inventory.history import HistoryPage, assigner, history

if TYPE_CHECKING:
    from dispatch import DevtrackBot
    from models import Device, Loan

logger = logging.getLogger(__name__)

ASK_NUMBER, VALUE, NEW_CATEGORY = "edit:number", "edit:value", "edit:newcat"
FIELD_BUTTONS = (
    ("number", texts.BTN_EDIT_NUMBER), ("name", texts.BTN_EDIT_NAME),
    ("category", texts.BTN_EDIT_CATEGORY), ("serial", texts.BTN_EDIT_SERIAL),
    ("registered_on", texts.BTN_EDIT_REGISTERED), ("firmware", texts.BTN_EDIT_FIRMWARE),
    ("comment", texts.BTN_EDIT_COMMENT),
)


# --- the admin menu of a card ----------------------------------------------------------------


def menu_keyboard(device: Device, loan: Loan | None) -> types.InlineKeyboardMarkup:
    """Field buttons, assign or unassign, history, delete, back to the card."""
    fields = [button(label, "edf", device.id, field) for field, label in FIELD_BUTTONS]
    holder = (button(texts.BTN_UNASSIGN, "una", device.id) if loan is not None
              else button(texts.BTN_ASSIGN, "asg", device.id))
    return keyboards.rows(
        fields[0:2], fields[2:4], fields[4:6], fields[6:7],
        [holder],
        [button(texts.BTN_HISTORY, "hist", device.id, 1),
         button(texts.BTN_DELETE, "del", device.id)],
        [button(texts.BTN_TO_CARD, "card", device.id)],
    )


def show_menu(ctx: Ctx, device_id: int, *, edit: bool, prefix: str = "") -> None:
    """The card text with «Что изменить?» and the admin buttons (raises NotFound)."""
    row = devices.card(device_id, ctx.now)
    text = render.card_text(row, ctx) + "\n\n" + texts.EDIT_MENU
    if prefix:
        text = prefix + "\n\n" + text
    (ctx.show if edit else ctx.send)(text, menu_keyboard(row.device, row.loan))


def on_menu(ctx: Ctx, args: Args) -> None:
    """edit:<device id> — the card's «Изменить» button."""
    show_menu(ctx, args.int(0), edit=True)


def on_edit(message: types.Message) -> None:
    """/edit [number] — open a device's admin menu, asking for the number if not given."""
    ctx = ctx_of(message)
    parts = (message.text or "").split(maxsplit=1)
    if len(parts) == 2:
        open_by_number(ctx, parts[1])
        return
    ctx.dialog.set(ASK_NUMBER)
    ctx.send(texts.EDIT_ASK_NUMBER.format(example=some_number()), keyboards.cancel_keyboard())


def some_number() -> int:
    """An existing sticker number as an example (1 when there are none)."""
    return catalog.lowest_number() or 1


def open_by_number(ctx: Ctx, text: str) -> bool:
    """Show the admin menu of the device with the typed number; False after a refusal."""
    try:
        number = catalog.parse_number(text)
    except InvalidValue:
        ctx.send(texts.ERR_NUMBER_FORMAT.format(text=texts.e(text[:50]), example=some_number()),
                 keyboards.cancel_keyboard())
        return False
    try:
        device = devices.by_number(number)
    except NotFound:
        ctx.send(texts.EDIT_NO_SUCH.format(number=number, example=some_number()),
                 keyboards.cancel_keyboard())
        return False
    ctx.dialog.clear()
    show_menu(ctx, device.id, edit=False)
    return True


def on_number_text(ctx: Ctx, message: types.Message) -> None:
    """The typed number after a bare /edit."""
    open_by_number(ctx, (message.text or "").strip())


# --- editing one field -----------------------------------------------------------------------


def value_keyboard(device: Device, field: str) -> types.InlineKeyboardMarkup:
    """Category choices or «Очистить» where they apply, «Назад» and «Отмена»."""
    rows: list[list[types.InlineKeyboardButton]] = []
    if field == "category":
        rows.extend(admin_common.category_rows(lambda c: ("edv", device.id, field, "cat", c.id)))
        rows.append([button(texts.BTN_NEW_CATEGORY, "edv", device.id, field, "newcat")])
    if field in catalog.OPTIONAL_FIELDS:
        rows.append([button(texts.BTN_CLEAR, "edv", device.id, field, "clear")])
    rows.append(nav_row(("edv", device.id, field, "back")))
    return keyboards.rows(*rows)


def ask_value(ctx: Ctx, device: Device, field: str, error: str = "") -> None:
    """Ask for a new value of one field (or repeat the question after a refusal)."""
    if field == "category":
        text = texts.EDIT_ASK_CATEGORY.format(**device_title(device),
                                              current=texts.e(device.category.name))
    else:
        text = texts.EDIT_ASK_VALUE.format(
            **device_title(device), field=admin_common.FIELD_TITLES[field],
            current=admin_common.shown(field, getattr(device, field)),
            example=texts.e(admin_common.example(field)))
    ctx.send(error or text, value_keyboard(device, field))


def on_field(ctx: Ctx, args: Args) -> None:
    """edf:<device id>:<field> — start editing one field."""
    device = catalog.get_device(args.int(0))
    field = args[1]
    if field not in catalog.FIELDS:
        raise BadButton(field)
    ctx.dialog.set(VALUE, device_id=device.id, field=field)
    ask_value(ctx, device, field)


def save(ctx: Ctx, device_id: int, field: str, value: Any) -> None:
    """Store the new value, leave the dialogue and show the admin menu with what changed."""
    device = catalog.update_field(device_id, field, value, actor=ctx.me, now=ctx.now)
    ctx.dialog.clear()
    new = device.category.name if field == "category" else getattr(device, field)
    show_menu(ctx, device.id, edit=False, prefix=texts.EDIT_SAVED.format(
        field=admin_common.FIELD_TITLES[field], value=admin_common.shown(field, new)))


def on_value_text(ctx: Ctx, message: types.Message) -> None:
    """A typed new value (or a new category name)."""
    data = ctx.dialog.data
    device_id, field = int(data["device_id"]), data["field"]
    try:
        device = catalog.get_device(device_id)
    except NotFound:
        ctx.dialog.clear()
        ctx.send(texts.DEVICE_GONE)
        return
    text = (message.text or "").strip()
    if message.text is None:
        ask_value(ctx, device, field, texts.ERR_TEXT_ONLY.format(
            example=texts.e(admin_common.example(field))))
        return
    try:
        if ctx.dialog.state == NEW_CATEGORY:
            value: Any = catalog.clean_category_name(text)
        elif field == "category":
            category = catalog.find_category(text)
            if category is None:
                ask_value(ctx, device, field,
                          texts.ERR_CATEGORY_UNKNOWN.format(text=texts.e(text[:100])))
                return
            value = category.name
        else:
            value = catalog.parse_field(field, text, today=ctx.today, exclude_id=device.id)
        save(ctx, device.id, field, value)
    except DomainError as err:
        if isinstance(err, NotFound):
            raise
        ask_value(ctx, device, field, admin_common.field_error(err, field))


def on_value_button(ctx: Ctx, args: Args) -> None:
    """edv:<device id>:<field>:<action>[:arg] — clear, pick a category, new category, back."""
    device_id, field, action = args.int(0), args[1], args[2]
    data = ctx.dialog.data
    if ctx.dialog.state not in (VALUE, NEW_CATEGORY) or data.get("device_id") != device_id \
            or data.get("field") != field:
        ctx.answer(texts.STALE_BUTTON, alert=True)
        return
    if action == "back":
        drop_buttons(ctx)
        ctx.dialog.clear()
        show_menu(ctx, device_id, edit=False)
    elif action == "clear" and field in catalog.OPTIONAL_FIELDS:
        drop_buttons(ctx)
        save(ctx, device_id, field, None)
    elif action == "cat" and field == "category":
        category = admin_common.category_by_id(args.int(3))
        drop_buttons(ctx)
        if category is None:
            ask_value(ctx, catalog.get_device(device_id), field)
            return
        save(ctx, device_id, field, category.name)
    elif action == "newcat" and field == "category":
        drop_buttons(ctx)
        ctx.dialog.update(NEW_CATEGORY)
        ctx.send(texts.ADD_ASK_NEW_CATEGORY.format(example=texts.e(texts.EXAMPLE_CATEGORY)),
                 keyboards.rows(nav_row(("edv", device_id, field, "back"))))
    else:
        raise BadButton(action)


# --- history ---------------------------------------------------------------------------------


def history_line(ctx: Ctx, loan: Loan, *, show_device: bool, show_holder: bool) -> str:
    """One loan: dates, holder or device, place, due date, who assigned it."""
    start = texts.fmt_date(local_date(loan.taken_at, ctx.config))
    end = texts.fmt_date(local_date(loan.returned_at, ctx.config)) if loan.returned_at \
        else texts.HISTORY_NOW
    who = []
    if show_device:
        who.append(texts.HISTORY_DEVICE.format(number=loan.device.number,
                                               name=render.cut(loan.device.name,
                                                               render.NAME_IN_LINE)))
    if show_holder:
        who.append(render.person_name(loan.person))
    line = texts.HISTORY_LINE.format(start=start, end=end, who=", ".join(who))
    if loan.place:
        line += texts.HISTORY_PLACE.format(place=render.cut(loan.place, render.PLACE_IN_LINE))
    if loan.due_date:
        line += texts.HISTORY_DUE.format(date=texts.fmt_date(loan.due_date))
    admin = assigner(loan)
    if admin is not None:
        line += texts.HISTORY_ASSIGNED_BY.format(admin=render.short_name(admin))
    return line


def history_keyboard(page: HistoryPage, prefix: str, owner_id: int,
                     back: types.InlineKeyboardButton) -> types.InlineKeyboardMarkup:
    """‹ n/m › and the way back."""
    nav: list[types.InlineKeyboardButton] = []
    if page.pages > 1:
        if page.page > 1:
            nav.append(button(texts.BTN_PREV, prefix, owner_id, page.page - 1))
        nav.append(button(texts.PAGE.format(page=page.page, pages=page.pages), keyboards.NOOP))
        if page.page < page.pages:
            nav.append(button(texts.BTN_NEXT, prefix, owner_id, page.page + 1))
    return keyboards.rows(nav, [back])


def on_history(ctx: Ctx, args: Args) -> None:
    """hist:<device id>[:<page>] — every loan of the device, newest first."""
    device = catalog.get_device(args.int(0))
    asked = args.int(1) if len(args) > 1 else 1
    page = history(asked, device_id=device.id)
    if asked != page.page:
        ctx.answer(texts.PAGE_GONE, alert=True)
    lines = [texts.HISTORY_TITLE.format(**device_title(device), total=page.total), ""]
    lines += [history_line(ctx, loan, show_device=False, show_holder=True)
              for loan in page.loans] or [texts.HISTORY_EMPTY]
    ctx.show("\n".join(lines), history_keyboard(
        page, "hist", device.id, button(texts.BTN_TO_CARD, "card", device.id)))


# --- delete ----------------------------------------------------------------------------------


def on_delete(ctx: Ctx, args: Args) -> None:
    """del:<device id> — refuse while held, otherwise ask to confirm."""
    device = admin_common.free_device_or_alert(ctx, args.int(0), texts.DELETE_HELD)
    if device is None:
        return
    ctx.show(texts.DELETE_ASK.format(**device_title(device)), keyboards.confirm_keyboard(
        texts.BTN_YES_DELETE, f"delo:{device.id}", f"edit:{device.id}"))


def on_delete_confirmed(ctx: Ctx, args: Args) -> None:
    """delo:<device id> — delete, keeping the history in the audit log."""
    device = catalog.get_device(args.int(0))
    try:
        deleted = catalog.delete_device(device.id, actor=ctx.me, now=ctx.now)
    except NotAllowed as err:
        ctx.answer(texts.DELETE_HELD.format(
            holder=admin_common.plain_name(err.details.get("holder"))), alert=True)
        return
    ctx.show(texts.DELETED.format(**device_title(device)))
    affected.device_deleted(ctx.bot.notifier,
                            [(person, deleted["device"]) for person in deleted["waiting"]])


def register(bot: DevtrackBot) -> None:
    """Wire /edit and the admin card buttons (admins only)."""
    bot.register_message_handler(on_edit, commands=["edit"], func=admin_common.is_admin)
    bot.routes.callback("edit", on_menu, role=ROLE_ADMIN)
    bot.routes.callback("edf", on_field, role=ROLE_ADMIN)
    bot.routes.callback("edv", on_value_button, role=ROLE_ADMIN)
    bot.routes.callback("hist", on_history, role=ROLE_ADMIN)
    bot.routes.callback("del", on_delete, role=ROLE_ADMIN)
    bot.routes.callback("delo", on_delete_confirmed, role=ROLE_ADMIN)
    bot.routes.step(ASK_NUMBER, on_number_text, role=ROLE_ADMIN)
    bot.routes.step(VALUE, on_value_text, role=ROLE_ADMIN, media=True)
    bot.routes.step(NEW_CATEGORY, on_value_text, role=ROLE_ADMIN, media=True)
