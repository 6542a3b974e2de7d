"""Per-device serialisation for multi-step changes, portable to SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import peewee as pw

from inventory.errors import NotFound
from models import Device

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
