"""Inline keyboards: device cards, paginated lists, date choices, confirmations."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from telebot.types import InlineKeyboardButton as Button
from telebot.types import InlineKeyboardMarkup as Markup

from handlers import texts
from handlers.context import Ctx
from inventory.devices import DeviceRow, Page
from notices import pack
from notices.holds import card_button

if TYPE_CHECKING:
    from models import Device

logger = logging.getLogger(__name__)

NOOP = "noop"
DUE_CHOICES = (
    ("today", texts.BTN_TODAY),
    ("tomorrow", texts.BTN_TOMORROW),
    ("week", texts.BTN_WEEK),
    ("2weeks", texts.BTN_TWO_WEEKS),
    ("none", texts.BTN_NO_DUE),
)


def button(text: str, *parts: object) -> Button:
    """A callback button."""
    return Button(text, callback_data=pack(*parts))


def rows(*button_rows: list[Button]) -> Markup:
    """A keyboard from rows of buttons (empty rows dropped)."""
    markup = Markup()
    for row in button_rows:
        if row:
            markup.row(*row)
    return markup


def card_keyboard(row: DeviceRow, ctx: Ctx, extra: list[list[Button]] | None = None) -> Markup:
    """What this viewer may do with the device now."""
    device_id = row.device.id
    person = ctx.person
    actions: list[list[Button]] = []
    free = row.loan is None
    held_for_other = row.hold is not None and row.hold.person_id != (person.id if person else 0)
    if free and not held_for_other:
        actions.append([button(texts.BTN_TAKE, "take", device_id)])
    if row.loan is not None and person is not None and row.loan.person_id == person.id:
        actions.append([button(texts.BTN_RETURN, "ret", device_id)])
        actions.append([button(texts.BTN_CHANGE_DUE, "due", device_id),
                        button(texts.BTN_CHANGE_PLACE, "place", device_id)])
    actions.extend(extra or [])
    admin_row = []
    if ctx.is_admin:
        # Admin buttons appear once the admin tools are wired, never as dead buttons.
        for prefix, label in (("edit", texts.BTN_EDIT), ("hist", texts.BTN_HISTORY)):
            if prefix in ctx.bot.routes.callbacks:
                admin_row.append(button(label, prefix, device_id))
    actions.append(admin_row)
    actions.append([button(texts.BTN_REFRESH, "card", device_id)])
    return rows(*actions)


def device_button(device: Device) -> Button:
    """A button that opens a device card."""
    label, data = card_button(device)
    return Button(label, callback_data=data)


def device_buttons(devices: list[Device]) -> Markup:
    """One card button per device."""
    return rows(*[[device_button(d)] for d in devices])


def page_keyboard(page: Page, page_data: Callable[[int], str],
                  extra: list[list[Button]] | None = None) -> Markup:
    """A button per device and ‹ n/m › below."""
    device_rows = [[device_button(r.device)] for r in page.rows]
    nav: list[Button] = []
    if page.pages > 1:
        if page.page > 1:
            nav.append(Button(texts.BTN_PREV, callback_data=page_data(page.page - 1)))
        nav.append(button(texts.PAGE.format(page=page.page, pages=page.pages), NOOP))
        if page.page < page.pages:
            nav.append(Button(texts.BTN_NEXT, callback_data=page_data(page.page + 1)))
    return rows(*device_rows, nav, *(extra or []))


def due_keyboard(prefix: str) -> Markup:
    """Date choices for a due date, plus «Отмена»."""
    choices = [button(label, prefix, code) for code, label in DUE_CHOICES]
    cancel = button(texts.BTN_CANCEL, "dlg", "cancel")
    return rows(choices[:2], choices[2:4], [choices[4]], [cancel])


def skip_cancel_keyboard(skip_data: str) -> Markup:
    """«Пропустить» and «Отмена» for an optional dialogue step."""
    return rows([Button(texts.BTN_SKIP, callback_data=skip_data),
                 button(texts.BTN_CANCEL, "dlg", "cancel")])


def cancel_keyboard() -> Markup:
    """Just «Отмена»."""
    return rows([button(texts.BTN_CANCEL, "dlg", "cancel")])


def confirm_keyboard(yes_label: str, yes_data: str, no_data: str) -> Markup:
    """A confirmation: yes and «Отмена»."""
    return rows([Button(yes_label, callback_data=yes_data),
                 Button(texts.BTN_CANCEL, callback_data=no_data)])


def handover_request_keyboard(handover_id: int) -> Markup:
    """The colleague's answer to a handover: «Принять» / «Отклонить»."""
    return rows([button(texts.BTN_HANDOVER_ACCEPT, "hoa", handover_id),
                 button(texts.BTN_HANDOVER_DECLINE, "hod", handover_id)])
