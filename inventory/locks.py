"""Per-device serialisation for multi-step changes, portable to SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from typing import TypeVar

import peewee as pw

from inventory.bulk import BATCH
from inventory.errors import NotFound
from inventory.prepared import Prepared
from models import BaseModel, Device, Person

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


def lock_device(device_id: int) -> Device:
    """Serialise changes of one device until the transaction ends; NotFound when it is gone.

    A no-op UPDATE of the device row is the first write of the transaction: PostgreSQL holds the
    row lock until commit (concurrent lockers of the same device wait, others do not), SQLite
    takes its write lock (waiting up to busy_timeout) before the transaction reads anything, so
    every read after it sees the changes committed by whoever held the lock before.
    RETURNING hands the row back in the same statement (PostgreSQL: its newest version, after
    the wait). Must be called inside `db.atomic()`.
    """
    device = _first(_TOUCH_DEVICE.rows(device_id))
    if device is None:
        raise NotFound(device_id=device_id)
    return device


def lock_devices(device_ids: list[int]) -> int:
    """lock_device for many devices at once (in id order, in chunks); returns how many exist."""
    locked = 0
    for chunk in pw.chunked(sorted(set(device_ids)), BATCH):
        locked += (
            pw.ModelUpdate(Device, {Device.updated_at: Device.updated_at})
            .where(Device.id.in_(chunk))
            .execute()
        )
    return locked


def lock_person(person_id: int) -> Person:
    """Serialise changes that depend on a person existing; NotFound when deleted or gone.

    The same no-op UPDATE as lock_device, on the person row and only while it is not deleted:
    a deletion holds it until its commit, so a take or an assignment locking it afterwards is
    refused instead of giving a device to a deleted person. Lock order: device before person.
    """
    person = _first(_TOUCH_PERSON.rows(person_id))
    if person is None:
        raise NotFound(person_id=person_id)
    return person


def _touch(model: type[M], condition: pw.Expression) -> pw.ModelUpdate:
    """The no-op UPDATE of the row matching condition, returning it (one statement)."""
    return (pw.ModelUpdate(model, {model.updated_at: model.updated_at})
            .where(condition).returning(model))


# Compiled once: a take locks a device and a person on every step that writes.
_TOUCH_DEVICE = Prepared(lambda device_id: _touch(Device, Device.id == device_id))
_TOUCH_PERSON = Prepared(lambda person_id: _touch(
    Person, (Person.id == person_id) & Person.deleted_at.is_null()))


def _first(rows: list[M]) -> M | None:
    """The touched row, if there was one."""
    return rows[0] if rows else None
