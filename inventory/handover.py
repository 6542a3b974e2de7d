"""Handover: the holder passes a device directly to a registered colleague, who accepts it.

At most one handover per device is pending (the partial unique index
handover_one_pending_per_device). Every answer is a conditional UPDATE on status = 'pending',
so a stale or repeated button changes nothing; accepting closes the old loan and opens the new
one in one transaction under the device lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import peewee as pw

from inventory import audit
from inventory.devices import normalize
from inventory.errors import (
    AlreadyReturned,
    HandoverGone,
    HandoverPending,
    InvalidEmail,
    NotFound,
    NotHolder,
    SelfHandover,
)
from inventory.locks import lock_device, lock_person
from inventory.people import normalize_email
from inventory.prepared import Prepared
from models import HANDOVER_PENDING, Device, Handover, Loan, Person, QueueEntry, db

logger = logging.getLogger(__name__)

PENDING = HANDOVER_PENDING
ACCEPTED, DECLINED, CANCELLED, VOID = "accepted", "declined", "cancelled", "void"


@dataclass(frozen=True)
class Accepted:
    """A completed handover: the closed loan and the colleague's new one."""

    handover: Handover
    device: Device
    old_loan: Loan
    new_loan: Loan


def _registered() -> pw.Expression:
    """SQL: a person who can use the bot."""
    return Person.telegram_id.is_null(False) & Person.deleted_at.is_null()


def find_colleagues(query: str) -> list[Person]:
    """Registered people by @username or email (exact), or by a part of the name or email."""
    text = query.strip()
    if text.startswith("@") and len(text) > 1:
        return list(Person.select().where(
            _registered() & (pw.fn.LOWER(Person.username) == text[1:].lower())))
    if "@" in text:
        try:
            email = normalize_email(text)
        except InvalidEmail:
            return []
        return list(Person.select().where(_registered() & (Person.email == email)))
    needle = normalize(text)
    if not needle:
        return []
    # Compared in Python: SQLite's LOWER() leaves Cyrillic as it is. One query over the
    # registered people, run only when a holder types a colleague's name.
    people = Person.select().where(_registered()).order_by(Person.name, Person.id)
    return [p for p in people
            if needle in normalize(p.name) or needle in p.email or needle == p.username.lower()]


def _pending_query(device_id: int) -> pw.ModelSelect[Handover]:
    """The query behind pending()."""
    To = Person.alias()
    return (
        Handover.select(Handover, Person, To)
        .join(Person, on=(Handover.from_person == Person.id))
        .switch()
        .join(To, on=(Handover.to_person == To.id))
        .where((Handover.device == device_id) & (Handover.status == PENDING))
    )


# Every return asks whether an offer turned void: compiled once (inventory/prepared.py).
_PENDING = Prepared(_pending_query)


def pending(device_id: int) -> Handover | None:
    """The device's handover waiting for an answer, both people joined (one query)."""
    found = _PENDING.rows(device_id)  # at most one: a partial unique index
    return found[0] if found else None


def _load(handover_id: int) -> Handover:
    """A handover by id, whatever its status, with device and both people (one query)."""
    To = Person.alias()
    found = (
        Handover.select(Handover, Device, Person, To)
        .join(Device)
        .switch()
        .join(Person, on=(Handover.from_person == Person.id))
        .switch()
        .join(To, on=(Handover.to_person == To.id))
        .where(Handover.id == handover_id)
        .first()
    )
    if found is None:
        raise HandoverGone(handover_id=handover_id)
    return found


def offer(device_id: int, holder: Person, colleague: Person, now: datetime) -> Handover:
    """The holder offers the device to a colleague; at most one offer per device is pending."""
    if colleague.id == holder.id:
        raise SelfHandover()
    if colleague.telegram_id is None or colleague.deleted_at is not None:
        raise NotFound(person_id=colleague.id)
    try:
        with db.atomic():
            device = lock_device(device_id)
            lock_person(colleague.id)  # NotFound when deleted meanwhile
            loan = Loan.get_or_none((Loan.device == device_id) & Loan.returned_at.is_null())
            if loan is None:
                raise AlreadyReturned(device_id=device_id)
            if loan.person_id != holder.id:
                raise NotHolder(holder=loan.person)
            # An offer left pending by a former holder (returned without the hooks) is void.
            stale = Handover.update(status=VOID, updated_at=now).where(
                (Handover.device == device_id) & (Handover.status == PENDING)
                & (Handover.from_person != holder.id)
            ).execute()
            if stale:
                audit.record("handover.void", actor=holder, device=device, person=None, now=now,
                             reason="holder changed")
            handover = Handover.create(device=device, from_person=holder, to_person=colleague,
                                       status=PENDING, created_at=now, updated_at=now)
            audit.record("handover.offered", actor=holder, device=device, person=colleague,
                         now=now, handover_id=handover.id)
    except pw.IntegrityError as exc:
        raise HandoverPending(handover=pending(device_id)) from exc
    handover.device, handover.from_person, handover.to_person = device, holder, colleague
    return handover


def accept(handover_id: int, person: Person, now: datetime) -> Accepted:
    """The colleague accepts: the old loan closes, theirs opens with the same due date and place."""
    handover = _load(handover_id)
    if handover.to_person_id != person.id or handover.status != PENDING:
        raise HandoverGone(handover_id=handover_id)
    result: Accepted | None = None
    with db.atomic():
        device = lock_device(handover.device_id)
        try:
            # A deletion of the colleague holds this lock and voids the offer.
            lock_person(person.id)
        except NotFound as exc:
            raise HandoverGone(handover_id=handover_id) from exc
        answered = Handover.update(status=ACCEPTED, updated_at=now).where(
            (Handover.id == handover_id) & (Handover.status == PENDING)
            & (Handover.to_person == person)
        ).execute()
        if not answered:
            raise HandoverGone(handover_id=handover_id)
        loan = Loan.get_or_none((Loan.device == device.id) & Loan.returned_at.is_null())
        closed = 0
        if loan is not None and loan.person_id == handover.from_person_id:
            closed = Loan.update(returned_at=now, updated_at=now).where(
                (Loan.id == loan.id) & Loan.returned_at.is_null()).execute()
        if not closed or loan is None:
            # Returned or reassigned since the offer: the offer is void.
            Handover.update(status=VOID, updated_at=now).where(
                Handover.id == handover_id).execute()
            audit.record("handover.void", actor=person, device=device, person=person, now=now,
                         handover_id=handover_id)
        else:
            new_loan = Loan.create(device=device, person=person, taken_at=now,
                                   due_date=loan.due_date, place=loan.place,
                                   created_at=now, updated_at=now)
            QueueEntry.delete().where(
                (QueueEntry.device == device) & (QueueEntry.person == person)).execute()
            audit.record("handover.accepted", actor=person, device=device, person=person,
                         now=now, handover_id=handover_id, from_email=handover.from_person.email,
                         old_loan_id=loan.id, new_loan_id=new_loan.id, due_date=loan.due_date)
            loan.returned_at = now
            new_loan.device, new_loan.person = device, person
            handover.status = ACCEPTED
            result = Accepted(handover, device, loan, new_loan)
    if result is None:
        raise HandoverGone(handover_id=handover_id)
    return result


def _answer(handover_id: int, person: Person, now: datetime, *, status: str,
            by_sender: bool, **details: object) -> Handover:
    """Move a pending handover to status; only its colleague (or, for cancel, its holder)."""
    handover = _load(handover_id)
    party = Handover.from_person if by_sender else Handover.to_person
    with db.atomic():
        changed = Handover.update(status=status, updated_at=now).where(
            (Handover.id == handover_id) & (Handover.status == PENDING) & (party == person)
        ).execute()
        if not changed:
            raise HandoverGone(handover_id=handover_id)
        audit.record(f"handover.{status}", actor=person, device=handover.device,
                     person=handover.to_person, now=now, handover_id=handover_id, **details)
    handover.status = status
    return handover


def decline(handover_id: int, person: Person, now: datetime) -> Handover:
    """The colleague declines; the device stays with the holder."""
    return _answer(handover_id, person, now, status=DECLINED, by_sender=False)


def cancel(handover_id: int, person: Person, now: datetime, reason: str = "") -> Handover:
    """The holder withdraws a pending offer."""
    return _answer(handover_id, person, now, status=CANCELLED, by_sender=True, reason=reason)


def void_pending(device_id: int, now: datetime) -> list[Handover]:
    """The device was returned: its pending offer is void; returns it (to tell the colleague)."""
    found = pending(device_id)
    if found is None:
        return []
    with db.atomic():
        changed = Handover.update(status=VOID, updated_at=now).where(
            (Handover.id == found.id) & (Handover.status == PENDING)).execute()
        if not changed:
            return []
        device = Device.get_by_id(device_id)
        audit.record("handover.void", actor=None, device=device, person=found.to_person,
                     now=now, handover_id=found.id, reason="returned")
    found.device, found.status = device, VOID
    return [found]


def void_offers_to(person: Person, now: datetime) -> list[Handover]:
    """The colleague was deleted: their pending offers are void (returned, with device and holder,
    so the holders can be told)."""
    offers = list(Handover.select(Handover, Device, Person).join(Device).switch()
                  .join(Person, on=(Handover.from_person == Person.id))
                  .where((Handover.to_person == person.id) & (Handover.status == PENDING)))
    voided = []
    for found in offers:
        if Handover.update(status=VOID, updated_at=now).where(
                (Handover.id == found.id) & (Handover.status == PENDING)).execute():
            audit.record("handover.void", actor=None, device=found.device, person=person,
                         now=now, handover_id=found.id, reason="deleted")
            found.status, found.to_person = VOID, person
            voided.append(found)
    return voided
