"""Loans: take, return, change the due date or place; what a person holds."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime

import peewee as pw

from inventory import audit
from inventory.errors import (
    AlreadyReturned,
    AlreadyTaken,
    HeldForQueue,
    NotFound,
    NotHolder,
    Unsettled,
)
from inventory.locks import lock_device, lock_person
from inventory.prepared import Prepared
from inventory.queue import queue_of
from models import Device, Loan, Person, QueueEntry, db

logger = logging.getLogger(__name__)

IN_BATCH = 500  # ids per IN (...): below SQLite's limit on bound parameters

PLACE_MAX = 200

# The one-open-loan index (loan.device_id where returned_at is null), named as ON CONFLICT needs
# it: a take of a device that has an open loan inserts nothing, and the transaction goes on.
_IF_NO_OPEN_LOAN = {"conflict_target": [Loan.device], "conflict_where": Loan.returned_at.is_null(),
                    "action": "NOTHING"}


# Every column is given: a default left to peewee would be computed once, when compiling.
_INSERT_OPEN_LOAN = Prepared(lambda device_id, person_id, now, due_date, place, assigned_by_id: (
    Loan.insert({Loan.device: device_id, Loan.person: person_id, Loan.taken_at: now,
                 Loan.due_date: due_date, Loan.place: place, Loan.assigned_by: assigned_by_id,
                 Loan.reminded_on: None, Loan.returned_at: None, Loan.created_at: now,
                 Loan.updated_at: now})
    .on_conflict(**_IF_NO_OPEN_LOAN).returning(Loan)))


def _close_query(device_id: int, holder_id: int | None, now: datetime) -> pw.Query:
    """Close the device's open loan, held by holder_id (None: whoever holds it)."""
    condition = (Loan.device == device_id) & Loan.returned_at.is_null()
    if holder_id is not None:
        condition &= Loan.person == holder_id
    return Loan.update(returned_at=now, updated_at=now).where(condition).returning(Loan)


_CLOSE_OPEN_LOAN = Prepared(_close_query)


def open_loan(device_id: int) -> Loan | None:
    """The open loan of a device with its holder, if any."""
    return (
        Loan.select(Loan, Person)
        .join(Person)
        .where((Loan.device == device_id) & Loan.returned_at.is_null())
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
    settled: bool = True,
) -> Loan:
    """Record that person holds the device; race-safe through the device lock and the
    one-open-loan index.

    `settled=False`: the caller has not brought the device's holds up to date, so a take that
    finds a run-out hold, or people waiting with no live hold, raises Unsettled before writing
    (the caller settles and asks again); the common case, nobody waiting, costs nothing extra.
    The loan's `holds_cleared` lists the people whose hold an admin's assignment ended (they
    wait in line again and should be told); after a plain take its `queue_after` is the line
    left behind, in order with people (for the card).
    """
    # Flat inside a caller's transaction (no savepoint): every refusal comes before the first
    # real write, so a caller that catches one is left with nothing of it.
    with db.transaction():
        # Serialised with the queue's offers and expiry, so the hold checked is the hold,
        # and with deletions: of the device (NotFound) and of the person (NotFound).
        device = lock_device(device_id)
        lock_person(person.id)
        entries = queue_of(device_id, now).entries
        if assigned_by is None:  # an admin's assignment deals with the line itself
            _refuse_for_the_line(device_id, person, entries, now, settled)
        loan = _insert_open_loan(device, person, now=now, place=place, due_date=due_date,
                                 assigned_by=assigned_by)
        cleared = _queue_after_take(device, person, entries, now, assigned_by)
        audit.record("loan.assigned" if assigned_by else "loan.taken",
                     actor=assigned_by or person, device=device, person=person, now=now,
                     place=place, due_date=due_date)
    loan.device, loan.person, loan.assigned_by = device, person, assigned_by
    loan.holds_cleared = cleared
    loan.queue_after = None if assigned_by else [e for e in entries if e.person_id != person.id]
    return loan


def _refuse_for_the_line(device_id: int, person: Person, entries: list[QueueEntry],
                         now: datetime, settled: bool) -> None:
    """Raise what the device's line has against a plain take (Unsettled, HeldForQueue)."""
    hold = next((e for e in entries if e.hold_until is not None and e.hold_until > now), None)
    # Someone in line (a run-out hold included) and no live hold: the line may be owed a
    # hold. For a device someone has, settling finds nothing to do and the take that
    # follows is refused as AlreadyTaken.
    if not settled and hold is None and entries:
        raise Unsettled(device_id=device_id)
    if hold is not None and hold.person_id != person.id:
        raise HeldForQueue(person=hold.person, until=hold.hold_until)


def _insert_open_loan(device: Device, person: Person, *, now: datetime, place: str,
                      due_date: date | None, assigned_by: Person | None) -> Loan:
    """INSERT the open loan unless the device has one (AlreadyTaken, naming the holder).

    ON CONFLICT DO NOTHING on the one-open-loan index: a conflict leaves the transaction usable
    on PostgreSQL, so no savepoint is needed to report it.
    """
    inserted = _INSERT_OPEN_LOAN.rows(device.id, person.id, now, due_date, place[:PLACE_MAX],
                                      assigned_by.id if assigned_by else None)
    if not inserted:
        # The loan in the way stays open: returning it waits for the device lock we hold.
        current = open_loan(device.id)
        assert current is not None
        raise AlreadyTaken(holder=current.person)
    return inserted[0]


def _queue_after_take(device: Device, person: Person, entries: list[QueueEntry],
                      now: datetime, assigned_by: Person | None) -> list[Person]:
    """The queue's side of a take; returns the people whose hold an admin's assignment ended.

    A plain take ends the taker's own wait (a DELETE only when there is an entry, read under
    the lock) and leaves a run-out hold to the expiry, which tells the person.
    """
    if assigned_by is None:
        if any(e.person_id == person.id for e in entries):
            QueueEntry.delete().where((QueueEntry.device == device.id)
                                      & (QueueEntry.person == person.id)).execute()
        return []
    cleared = []
    for held in queue_to_new_holders({device.id: person.id}, now):
        cleared.append(held.person)
        audit.record("hold.cleared", actor=assigned_by, device=device, person=held.person,
                     now=now)
    return cleared


def queue_to_new_holders(holders: Mapping[int, int], now: datetime) -> list[QueueEntry]:
    """The queue's side of new loans (device id -> new holder id): an admin's assignment and
    the import.

    Getting a device ends the new holder's own wait for it (and their hold); a hold for
    someone else goes back to waiting in line. Returns the cleared holds, person loaded.
    """
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
    with db.atomic():
        # Serialised with queue joins: a join either sees the device still held (and its
        # entry is there for the hold that follows) or sees it free and is refused.
        device = lock_device(device_id)
        loan = _close_open_loan(device_id, None if admin else person, now)
        if loan is None:
            # Why not: NotFound, AlreadyReturned or NotHolder, as holders_loan finds. An admin's
            # return closes any open loan, so for an admin only the first two are left.
            holders_loan(device_id, person)
            raise AlreadyReturned(device_id=device_id)
        loan.person = person if loan.person_id == person.id else Person.get_by_id(loan.person_id)
        action = "loan.returned" if loan.person_id == person.id else "loan.unassigned"
        audit.record(action, actor=person, device=device, person=loan.person, now=now,
                     loan_id=loan.id)
    loan.device = device
    return loan


def _close_open_loan(device_id: int, holder: Person | None, now: datetime) -> Loan | None:
    """Close the device's open loan, held by holder (None: whoever holds it); the loan or None.

    One UPDATE ... RETURNING under the device lock: reading the loan first costs a statement.
    """
    closed = _CLOSE_OPEN_LOAN.rows(device_id, holder.id if holder else None, now)
    return closed[0] if closed else None


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


# /mine is an everyday screen: compiled once (inventory/prepared.py).
_HELD_BY = Prepared(lambda person_id: Loan.select(Loan, Device).join(Device)
                    .where((Loan.person == person_id) & Loan.returned_at.is_null())
                    .order_by(Loan.due_date.is_null(), Loan.due_date, Device.number))


def held_by(person: Person) -> list[Loan]:
    """Open loans of a person with their devices, soonest due first (one query)."""
    return _HELD_BY.rows(person.id)
