"""Device catalogue for admins: field validation, create, edit, delete and loan history."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

import peewee as pw

from inventory import audit, loans
from inventory.admin_people import person_for_email
from inventory.dates import parse_recorded_date
from inventory.devices import normalize, search_text_for
from inventory.errors import Conflict, InvalidDate, InvalidValue, NotAllowed, NotFound
from inventory.history import history_query
from inventory.importing import FIELD_LIMITS, MAX_NUMBER
from inventory.locks import lock_device
from inventory.numbers import sticker_number
from models import Category, Device, Loan, Person, QueueEntry, db

logger = logging.getLogger(__name__)

FIELDS = ("number", "name", "category", "serial", "registered_on", "firmware", "comment")
OPTIONAL_FIELDS = ("registered_on", "firmware", "comment")
LIMITS = {**{k: v for k, v in FIELD_LIMITS.items() if k != "place"}, "category": 100}


# --- validation ------------------------------------------------------------------------------


def _text(field: str, text: str, *, required: bool) -> str:
    """A trimmed single-field text within its length limit."""
    value = " ".join(text.split()) if field != "comment" else text.strip()
    if not value and required:
        raise InvalidValue(field=field, reason="empty")
    if len(value) > LIMITS[field]:
        raise InvalidValue(field=field, reason="too_long", limit=LIMITS[field])
    return value


def parse_number(text: str) -> int:
    """A sticker number: a positive integer that fits the database column."""
    number = sticker_number(text.replace(" ", ""))
    if number is None or number > MAX_NUMBER:
        raise InvalidValue(field="number", reason="not_number", text=text.strip())
    return number


def check_number_free(number: int, exclude_id: int | None = None) -> None:
    """Raise Conflict when another device carries this number."""
    query = Device.select().where(Device.number == number)
    if exclude_id is not None:
        query = query.where(Device.id != exclude_id)
    other = query.first()
    if other is not None:
        raise Conflict(field="number", other=other, value=number)


def check_serial_free(serial: str, exclude_id: int | None = None) -> None:
    """Raise Conflict when another device has this serial (ignoring case, as the import does)."""
    query = Device.select().where(pw.fn.LOWER(Device.serial) == serial.lower())
    if exclude_id is not None:
        query = query.where(Device.id != exclude_id)
    other = query.first()
    if other is not None:
        raise Conflict(field="serial", other=other, value=serial)


def next_free_number() -> int:
    """One more than the highest number in use (an example for the admin)."""
    highest = Device.select(pw.fn.MAX(Device.number)).scalar()
    return (highest or 0) + 1


def parse_field(field: str, text: str, *, today: date, exclude_id: int | None = None) -> Any:
    """Validate a typed value of one device field (not category) and return it clean."""
    if field == "number":
        number = parse_number(text)
        check_number_free(number, exclude_id)
        return number
    if field == "name":
        return _text("name", text, required=True)
    if field == "serial":
        serial = _text("serial", text, required=True)
        check_serial_free(serial, exclude_id)
        return serial
    if field == "registered_on":
        try:
            return parse_recorded_date(text, today)
        except InvalidDate as exc:
            raise InvalidValue(field=field, reason="bad_date", text=text.strip()) from exc
    if field in ("firmware", "comment"):
        return _text(field, text, required=True)
    raise ValueError(f"unknown field {field!r}")


def categories() -> list[Category]:
    """Every category by name."""
    return list(Category.select().order_by(Category.name))


def find_category(name: str) -> Category | None:
    """The category with this name, ignoring case, spaces and «ё»."""
    key = normalize(name)
    for category in Category.select():
        if normalize(category.name) == key:
            return category
    return None


def clean_category_name(text: str) -> str:
    """A new category name: not empty, within the column length."""
    return _text("category", text, required=True)


def _category(name: str, now: datetime) -> Category:
    """The named category, created when new (inside the caller's transaction)."""
    found = find_category(name)
    if found is not None:
        return found
    return Category.create(name=clean_category_name(name), created_at=now, updated_at=now)


# --- create ----------------------------------------------------------------------------------


def _conflict_from(exc: pw.IntegrityError, number: int, serial: str,
                   exclude_id: int | None = None) -> Conflict:
    """Turn a unique-index race into the Conflict a pre-check would have raised."""
    for check in (lambda: check_number_free(number, exclude_id),
                  lambda: check_serial_free(serial, exclude_id)):
        try:
            check()
        except Conflict as err:
            return err
    logger.warning("unexpected integrity error: %s", exc)
    return Conflict(field="device", value=number)


def create_device(
    values: dict[str, Any],
    *,
    actor: Person,
    now: datetime,
    holder_email: str = "",
    place: str = "",
    due_date: date | None = None,
) -> Device:
    """Create a device (and its category, holder and loan) in one transaction."""
    number, serial = int(values["number"]), str(values["serial"])
    try:
        with db.atomic():
            check_number_free(number)
            check_serial_free(serial)
            category = _category(str(values["category"]), now)
            name = str(values["name"])
            device = Device.create(
                number=number, name=name, category=category, serial=serial,
                registered_on=values.get("registered_on"),
                firmware=values.get("firmware") or "", comment=values.get("comment") or "",
                search_text=search_text_for(name, serial), created_at=now, updated_at=now,
            )
            audit.record("device.created", actor=actor, device=device, now=now,
                         **{f: values.get(f) for f in FIELDS if f != "category"},
                         category=category.name)
            if holder_email:
                holder = person_for_email(holder_email, actor=actor, now=now)
                loans.take(device.id, holder, now=now, place=place, due_date=due_date,
                           assigned_by=actor)
    except pw.IntegrityError as exc:
        raise _conflict_from(exc, number, serial) from exc
    logger.info("device %s created by %s", number, actor.telegram_id)
    return device


# --- edit ------------------------------------------------------------------------------------


def get_device(device_id: int) -> Device:
    """The device with its category; NotFound when deleted."""
    device = Device.select(Device, Category).join(Category).where(Device.id == device_id).first()
    if device is None:
        raise NotFound(device_id=device_id)
    return device


def update_field(device_id: int, field: str, value: Any, *, actor: Person,
                 now: datetime) -> Device:
    """Set one field (value already parsed; category by name), keeping search_text in sync."""
    if field not in FIELDS:
        raise ValueError(f"unknown field {field!r}")
    device = get_device(device_id)
    if field in OPTIONAL_FIELDS and value in (None, ""):
        value = None if field == "registered_on" else ""
    try:
        with db.atomic():
            # A delete holds this lock too: an edit never writes to a device deleted meanwhile.
            lock_device(device.id)
            device = get_device(device.id)
            if field == "number":
                check_number_free(int(value), device.id)
            elif field == "serial":
                check_serial_free(str(value), device.id)
            old = device.category.name if field == "category" else getattr(device, field)
            if field == "category":
                category = _category(str(value), now)
                updates: dict[Any, Any] = {Device.category: category}
                new = category.name
            else:
                updates = {getattr(Device, field): value}
                new = value
            if field in ("name", "serial"):
                name = value if field == "name" else device.name
                serial = value if field == "serial" else device.serial
                updates[Device.search_text] = search_text_for(name, serial)
            updates[Device.updated_at] = now
            Device.update(updates).where(Device.id == device.id).execute()
            audit.record("device.edited", actor=actor, device=device, now=now, field=field,
                         old=old, new=new)
    except pw.IntegrityError as exc:
        number = int(value) if field == "number" else device.number
        serial = str(value) if field == "serial" else device.serial
        raise _conflict_from(exc, number, serial, device.id) from exc
    return get_device(device.id)


# --- delete ----------------------------------------------------------------------------------


def _loan_record(loan: Loan) -> dict[str, Any]:
    """One returned loan (a held device is not deleted) as plain data for the audit log."""
    assigned = loan.assigned_by  # joined by history_query: None when nobody assigned it
    return {
        "person_email": loan.person.email,
        "taken_at": loan.taken_at.isoformat(),
        "returned_at": loan.returned_at.isoformat(),  # type: ignore[union-attr]  # all returned
        "due_date": loan.due_date.isoformat() if loan.due_date else None,
        "place": loan.place,
        "assigned_by_email": assigned.email if assigned else None,
    }


def delete_device(device_id: int, *, actor: Person, now: datetime) -> dict[str, Any]:
    """Delete a free device; its loan history goes into the audit log first.

    Under the device lock, the same one a take holds: a take either finished before (the
    device is held and the delete is refused) or finds the device gone. Returns the snapshot,
    the loans and `waiting`: the people who queued for it or had it held (to be told).
    """
    with db.atomic():
        lock_device(device_id)
        current = loans.open_loan(device_id)
        if current is not None:
            raise NotAllowed(reason="held", holder=current.person)
        device = get_device(device_id)
        history = [_loan_record(loan) for loan in history_query(device_id=device_id)]
        waiting = list(Person.select().join(QueueEntry)  # on QueueEntry.person
                       .where(QueueEntry.device == device_id)
                       .order_by(QueueEntry.joined_at, QueueEntry.id))
        snapshot = {
            "number": device.number, "name": device.name, "category": device.category.name,
            "serial": device.serial,
            # ISO text: the snapshot goes into the audit log's JSON as it is.
            "registered_on": device.registered_on.isoformat() if device.registered_on else None,
            "firmware": device.firmware, "comment": device.comment,
        }
        audit.record("device.deleted", actor=actor, device=device, now=now, snapshot=snapshot,
                     loans=history, queue=[p.email for p in waiting])
        Device.delete().where(Device.id == device_id).execute()
    logger.info("device %s deleted by %s", device.number, actor.telegram_id)
    return {"device": snapshot, "loans": history, "waiting": waiting}


def find_device(device_id: int) -> Device | None:
    """The device with this id, None when it was deleted."""
    return Device.get_or_none(Device.id == device_id)


def category_by_id(category_id: int) -> Category | None:
    """A category picked by button (None when deleted meanwhile)."""
    return Category.get_or_none(Category.id == category_id)


def lowest_number() -> int | None:
    """The smallest sticker number in use (an example to type), None without devices."""
    return Device.select(pw.fn.MIN(Device.number)).scalar()
