"""Loans: take, return, change the due date or place; what a person holds."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime

import peewee as pw

from inventory import audit
from inventory.errors import AlreadyReturned, AlreadyTaken, HeldForQueue, NotFound, NotHolder
from inventory.locks import lock_device, lock_person
from models import Device, Loan, Person, QueueEntry, db

logger = logging.getLogger(__name__)

IN_BATCH = 500  # ids per IN (...): below SQLite's limit on bound parameters

PLACE_MAX = 200


def open_loan(device_id: int) -> Loan | None:
    """The open loan of a device with its holder, if any."""
    return (
        Loan.select(Loan, Person)
        .join(Person)
        .where((Loan.device == device_id) & Loan.returned_at.is_null())
        .first()
    )


def active_hold(device_id: int, now: datetime) -> QueueEntry | None:
    """The queue entry the freed device is held for right now, if any."""
    return (
        QueueEntry.select(QueueEntry, Person)
        .join(Person)
        .where((QueueEntry.device == device_id) & (QueueEntry.hold_until > now))
        .first()
    )


def take(
    device_id: int,
    person: Person,
    *,
    now: datetime,
    place: str = "",
    due_date: date | None = None,
    assigned_by: Person | None = None,
) -> Loan:
    """Record that person holds the device; race-safe through the one-open-loan index.

    The loan's `holds_cleared` lists the people whose hold an admin's assignment ended (they
    wait in line again and should be told).
    """
    try:
        with db.atomic():
            # Serialised with the queue's offers and expiry, so the hold checked is the hold,
            # and with deletions: of the device (NotFound) and of the person (NotFound).
            device = lock_device(device_id)
            lock_person(person.id)
            hold = active_hold(device_id, now)
            if hold is not None and hold.person_id != person.id and assigned_by is None:
                raise HeldForQueue(person=hold.person, until=hold.hold_until)
            loan = Loan.create(device=device, person=person, taken_at=now, due_date=due_date,
                               place=place[:PLACE_MAX], assigned_by=assigned_by,
                               created_at=now, updated_at=now)
            # Only an admin can take a device held for someone else, so only then is a hold
            # cleared (the person waits in line again and is told).
            cleared = []
            for held in queue_to_new_holders({device_id: person.id}, now,
                                             clear_holds=assigned_by is not None):
                cleared.append(held.person)
                audit.record("hold.cleared", actor=assigned_by or person, device=device,
                             person=held.person, now=now)
            audit.record("loan.assigned" if assigned_by else "loan.taken",
                         actor=assigned_by or person, device=device, person=person, now=now,
                         place=place, due_date=due_date)
    except pw.IntegrityError as exc:
        current = open_loan(device_id)
        raise AlreadyTaken(holder=current.person if current else None) from exc
    loan.device = device
    loan.person = person
    loan.holds_cleared = cleared
    return loan


def queue_to_new_holders(holders: Mapping[int, int], now: datetime, *,
                         clear_holds: bool = True) -> list[QueueEntry]:
    """The queue's side of new loans (device id -> new holder id), for take and the import.

    Getting a device ends the new holder's own wait for it (and their hold). With clear_holds
    (an admin's assignment or an import), a hold for someone else goes back to waiting in
    line; a plain take leaves a run-out one to the expiry, which tells the person. Returns the
    cleared holds, person loaded.
    """
    if not clear_holds:  # one statement per loan, whatever the queue holds
        for device_id, person_id in holders.items():
            QueueEntry.delete().where((QueueEntry.device == device_id)
                                      & (QueueEntry.person == person_id)).execute()
        return []
    own: list[int] = []
    cleared: list[QueueEntry] = []
    for batch in pw.chunked(list(holders), IN_BATCH):
        for entry in (QueueEntry.select(QueueEntry, Person).join(Person)
                      .where(QueueEntry.device.in_(batch)).order_by(QueueEntry.id)):
            if holders[entry.device_id] == entry.person_id:
                own.append(entry.id)
            elif entry.hold_until is not None:
                cleared.append(entry)
    for batch in pw.chunked(own, IN_BATCH):
        QueueEntry.delete().where(QueueEntry.id.in_(batch)).execute()
    for batch in pw.chunked([entry.id for entry in cleared], IN_BATCH):
        QueueEntry.update(hold_until=None, updated_at=now).where(
            QueueEntry.id.in_(batch)).execute()
    return cleared


def holders_loan(device_id: int, person: Person, *, admin: bool = False) -> Loan:
    """The open loan of device, which person must hold (admins act for anyone).

    NotFound: no such device; AlreadyReturned: nobody holds it; NotHolder: someone else does.
    """
    loan = open_loan(device_id)
    if loan is None:
        if not Device.select().where(Device.id == device_id).exists():
            raise NotFound(device_id=device_id)
        raise AlreadyReturned(device_id=device_id)
    if loan.person_id != person.id and not admin:
        raise NotHolder(holder=loan.person)
    return loan


def return_device(device_id: int, person: Person, *, now: datetime,
                  admin: bool = False) -> Loan:
    """Close the open loan; only the holder (or an admin) may."""
    loan = holders_loan(device_id, person, admin=admin)
    with db.atomic():
        # Serialised with queue joins: a join either sees the device still held (and its
        # entry is there for the hold that follows) or sees it free and is refused.
        device = lock_device(device_id)
        closed = (
            Loan.update(returned_at=now, updated_at=now)
            .where((Loan.id == loan.id) & Loan.returned_at.is_null())
            .execute()
        )
        if not closed:
            raise AlreadyReturned(device_id=device_id)
        action = "loan.returned" if loan.person_id == person.id else "loan.unassigned"
        audit.record(action, actor=person, device=device, person=loan.person, now=now,
                     loan_id=loan.id)
    loan.returned_at = now
    loan.device = device
    return loan


def change(device_id: int, person: Person, *, now: datetime, due_date: date | None = None,
           place: str | None = None, clear_due: bool = False) -> Loan:
    """Change the due date and/or place of the holder's loan."""
    loan = holders_loan(device_id, person)
    updates: dict = {}
    if due_date is not None or clear_due:
        updates["due_date"] = due_date
    if place is not None:
        updates["place"] = place[:PLACE_MAX]
    with db.atomic():
        device = lock_device(device_id)
        changed = Loan.update(**updates, updated_at=now).where(
            (Loan.id == loan.id) & Loan.returned_at.is_null()).execute()
        if not changed:
            raise AlreadyReturned(device_id=device_id)
        audit.record("loan.changed", actor=person, device=device, person=person, now=now,
                     **{k: v for k, v in updates.items()})
    for key, value in updates.items():
        setattr(loan, key, value)
    loan.device = device
    return loan


def held_by(person: Person) -> list[Loan]:
    """Open loans of a person with their devices, soonest due first (one query)."""
    query = (
        Loan.select(Loan, Device)
        .join(Device)
        .where((Loan.person == person) & Loan.returned_at.is_null())
        .order_by(Loan.due_date.is_null(), Loan.due_date, Device.number)
    )
    return list(query)
