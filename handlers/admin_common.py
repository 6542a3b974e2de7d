"""Pieces the admin handlers share: field names, examples, error texts, dialogue keyboards."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from telebot import types

from handlers import keyboards, texts
from handlers.context import Ctx, ctx_of
from handlers.keyboards import button
from inventory import catalog, loans
from inventory.errors import (
    Conflict,
    DateTooFar,
    DomainError,
    DomainNotAllowed,
    InvalidDate,
    InvalidEmail,
    InvalidValue,
    PastDate,
)

if TYPE_CHECKING:
    from models import Category, Device, Person

logger = logging.getLogger(__name__)

FIELD_TITLES = {
    "number": texts.FIELD_NUMBER,
    "name": texts.FIELD_NAME,
    "category": texts.FIELD_CATEGORY,
    "serial": texts.FIELD_SERIAL,
    "registered_on": texts.FIELD_REGISTERED,
    "firmware": texts.FIELD_FIRMWARE,
    "comment": texts.FIELD_COMMENT,
}
EXAMPLES = {
    "name": texts.EXAMPLE_NAME,
    "serial": texts.EXAMPLE_SERIAL,
    "firmware": texts.EXAMPLE_FIRMWARE,
    "comment": texts.EXAMPLE_COMMENT,
    "category": texts.EXAMPLE_CATEGORY,
    "registered_on": texts.EXAMPLE_REGISTERED,
}


def is_admin(update: Any) -> bool:
    """Filter for admin-only message handlers: everyone else falls through to the search."""
    return ctx_of(update).is_admin


def example(field: str) -> str:
    """An example of a good value for a device field."""
    if field == "number":
        return str(catalog.next_free_number())
    return EXAMPLES[field]


def shown(field: str, value: Any) -> str:
    """A stored field value as the admin reads it (escaped; «—» when empty)."""
    if value in (None, ""):
        return texts.EMPTY_VALUE
    if isinstance(value, date):
        return texts.fmt_date(value)
    return texts.e(value)


def field_error(err: DomainError, field: str) -> str:
    """Why a typed value was refused, with an example of a good one."""
    details = err.details
    if isinstance(err, Conflict) and details.get("field") == "number":
        other: Device = details["other"]
        return texts.ERR_NUMBER_TAKEN.format(number=other.number, name=texts.e(other.name),
                                             example=catalog.next_free_number())
    if isinstance(err, Conflict) and details.get("field") == "serial":
        other = details["other"]
        return texts.ERR_SERIAL_TAKEN.format(serial=texts.e(other.serial), number=other.number,
                                             name=texts.e(other.name),
                                             example=texts.e(EXAMPLES["serial"]))
    if isinstance(err, InvalidValue):
        reason = details.get("reason")
        if reason == "not_number":
            return texts.ERR_NUMBER_FORMAT.format(text=texts.e(details.get("text", "")[:50]),
                                                  example=catalog.next_free_number())
        if reason == "bad_date":
            return texts.ERR_DATE.format(text=texts.e(details.get("text", "")[:50]),
                                         example=texts.EXAMPLE_REGISTERED)
        if reason == "too_long":
            return texts.ERR_TOO_LONG.format(field=FIELD_TITLES.get(field, field),
                                             limit=details["limit"],
                                             example=texts.e(example(field)))
        return texts.ERR_EMPTY.format(field=FIELD_TITLES.get(field, field),
                                      example=texts.e(example(field)))
    raise err


def email_error(ctx: Ctx, err: DomainError, text: str) -> str:
    """Why a typed email was refused."""
    if isinstance(err, DomainNotAllowed):
        domains = texts.domains_text(ctx.config.email_domains)
        return texts.ERR_EMAIL_DOMAIN.format(
            email=texts.e(err.details["email"]), domains=domains,
            example=f"ivan.petrov@{texts.e(ctx.config.email_domains[0])}")
    if isinstance(err, InvalidEmail):
        return texts.BAD_EMAIL.format(text=texts.e(text[:100]))
    raise err


def date_error(ctx: Ctx, err: DomainError, text: str) -> str:
    """Why a typed due date was refused."""
    example_date = texts.fmt_date(ctx.today + timedelta(days=7))
    if isinstance(err, PastDate):
        return texts.PAST_DATE.format(date=texts.fmt_date(err.details["value"]),
                                      example=example_date)
    if isinstance(err, DateTooFar):
        return texts.DATE_TOO_FAR.format(limit=texts.fmt_date(err.details["limit"]),
                                         example=example_date)
    if isinstance(err, InvalidDate):
        return texts.BAD_DATE.format(text=texts.e(text[:50]), example=example_date)
    raise err


def category_rows(data_of: Any) -> list[list[types.InlineKeyboardButton]]:
    """Category buttons two per row; data_of(category) builds each button's data."""
    buttons = [button(category.name[:40], *data_of(category)) for category in catalog.categories()]
    return [buttons[i:i + 2] for i in range(0, len(buttons), 2)]


def nav_row(back: tuple | None) -> list[types.InlineKeyboardButton]:
    """«Назад» (when back data is given) and «Отмена»."""
    row = [button(texts.BTN_BACK, *back)] if back else []
    row.append(button(texts.BTN_CANCEL, "dlg", "cancel"))
    return row


def due_rows(*prefix: object) -> list[list[types.InlineKeyboardButton]]:
    """Due-date choice buttons, data prefix + code."""
    choices = [button(label, *prefix, code) for code, label in keyboards.DUE_CHOICES]
    return [choices[:2], choices[2:4], [choices[4]]]


def category_by_id(category_id: int) -> Category | None:
    """A category picked by button (None when deleted meanwhile)."""
    return catalog.category_by_id(category_id)


def plain_name(person: Person | None) -> str:
    """A person's name for alerts (plain text, not HTML)."""
    if person is None:
        return "—"
    return person.name or person.email


def free_device_or_alert(ctx: Ctx, device_id: int, held_template: str) -> Device | None:
    """The device if nobody holds it; otherwise an alert naming the holder, and None."""
    device = catalog.get_device(device_id)
    loan = loans.open_loan(device.id)
    if loan is None:
        return device
    ctx.answer(held_template.format(holder=plain_name(loan.person)), alert=True)
    return None
