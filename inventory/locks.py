"""Per-device serialisation for multi-step changes, portable to SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import peewee as pw

from inventory.bulk import BATCH
from inventory.errors import NotFound
from models import Device, Person

logger = logging.getLogger(__name__)


def lock_device(device_id: int) -> Device:
    """Serialise changes of one device until the transaction ends; NotFound when it is gone.

    A no-op UPDATE of the device row is the first write of the transaction: PostgreSQL holds the
    row lock until commit (concurrent lockers of the same device wait, others do not), SQLite
    takes its write lock (waiting up to busy_timeout) before the transaction reads anything, so
    every read after it sees the changes committed by whoever held the lock before.
    Must be called inside `db.atomic()`.
    """
    touched = (
        pw.ModelUpdate(Device, {Device.updated_at: Device.updated_at})
        .where(Device.id == device_id)
        .execute()
    )
    if not touched:
        raise NotFound(device_id=device_id)
    return Device.get_by_id(device_id)


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
    touched = (
        pw.ModelUpdate(Person, {Person.updated_at: Person.updated_at})
        .where((Person.id == person_id) & Person.deleted_at.is_null())
        .execute()
    )
    if not touched:
        raise NotFound(person_id=person_id)
    return Person.get_by_id(person_id)
