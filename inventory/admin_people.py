"""People for admins: search, the person card, email and comment changes, deletion."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import peewee as pw

from inventory import audit, handover, loans, queue
from inventory.devices import normalize
from inventory.errors import Conflict, InvalidValue, NotAllowed, NotFound
from inventory.history import HistoryPage, history
from inventory.locks import lock_person
from inventory.people import check_domain, normalize_email
from inventory.rows import tuples
from models import Device, Handover, Loan, Person, QueueEntry, db

logger = logging.getLogger(__name__)

PAGE_SIZE = 8
COMMENT_MAX = 1000


def clean_email(text: str, domains: Iterable[str] = ()) -> str:
    """A lower-cased, valid email inside the allowed domains (InvalidEmail/DomainNotAllowed)."""
    email = normalize_email(text)
    check_domain(email, domains)
    return email


def person_for_email(email: str, *, actor: Person | None, now: datetime) -> Person:
    """The person with this email; creates one known only by email, or restores a deleted one."""
    email = normalize_email(email)
    person = Person.get_or_none(Person.email == email)
    if person is None:
        person = Person.create(email=email, created_at=now, updated_at=now)
        audit.record("person.created", actor=actor, person=person, now=now)
    elif person.deleted_at is not None:
        Person.update(deleted_at=None, updated_at=now).where(Person.id == person.id).execute()
        person.deleted_at = None
        audit.record("person.restored", actor=actor, person=person, now=now)
    return person


def get_person(person_id: int) -> Person:
    """An active (not deleted) person; NotFound otherwise."""
    person = Person.get_or_none((Person.id == person_id) & Person.deleted_at.is_null())
    if person is None:
        raise NotFound(person_id=person_id)
    return person


# --- search ----------------------------------------------------------------------------------


@dataclass
class PeoplePage:
    """One page of people found."""

    people: list[Person]
    page: int
    pages: int
    total: int


def _matches(needle: str, email: str, name: str, username: str) -> bool:
    """Whether a person matches a normalized query (email, name or @username)."""
    if needle.startswith("@"):
        return bool(username) and username.lower().startswith(needle[1:]) or needle in email
    return needle in email or needle in normalize(name) or (
        bool(username) and needle in username.lower())


def search(query: str, page: int = 1) -> PeoplePage:
    """Active people whose email, name or @username contains the query (all for "")."""
    needle = normalize(query)
    # Names are Cyrillic: SQLite's LOWER() only folds ASCII, so compare in Python.
    rows = tuples(Person.select(Person.id, Person.email, Person.name, Person.username)
                  .where(Person.deleted_at.is_null()))
    found = [(email != needle, normalize(name) or email, pid)
             for pid, email, name, username in rows
             if not needle or _matches(needle, email, name or "", username or "")]
    found.sort()
    total = len(found)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    ids = [pid for _, _, pid in found[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]]
    by_id = {p.id: p for p in Person.select().where(Person.id.in_(ids))} if ids else {}
    return PeoplePage([by_id[i] for i in ids if i in by_id], page, pages, total)


# --- the card --------------------------------------------------------------------------------


@dataclass
class PersonCard:
    """What an admin sees about a person."""

    person: Person
    holding: list[Loan]
    queues: list[QueueEntry]
    history: HistoryPage


def person_card(person_id: int) -> PersonCard:
    """A person with held devices, queue entries and the latest loans (five queries)."""
    person = get_person(person_id)
    queues = list(
        QueueEntry.select(QueueEntry, Device)
        .join(Device)
        .where(QueueEntry.person == person)
        .order_by(QueueEntry.joined_at, Device.number)
    )
    return PersonCard(person, loans.held_by(person), queues, history(1, person_id=person.id))


# --- changes ---------------------------------------------------------------------------------


def change_email(person_id: int, text: str, *, actor: Person, now: datetime,
                 domains: Iterable[str] = ()) -> Person:
    """Give a person another email: valid, allowed, unique, stored lower-case."""
    person = get_person(person_id)
    email = clean_email(text, domains)
    if email == person.email:
        return person
    old = person.email
    try:
        # The unique index refuses an email someone else has, also against a racing change.
        with db.atomic():
            Person.update(email=email, updated_at=now).where(Person.id == person.id).execute()
            person.email = email
            audit.record("person.email_changed", actor=actor, person=person, now=now, old=old,
                         new=email)
    except pw.IntegrityError as exc:
        raise Conflict(field="email", other=Person.get_or_none(Person.email == email),
                       value=email) from exc
    return person


def set_comment(person_id: int, text: str, *, actor: Person, now: datetime) -> Person:
    """Set (or with an empty text, clear) the admin comment on a person."""
    person = get_person(person_id)
    comment = text.strip()
    if len(comment) > COMMENT_MAX:
        raise InvalidValue(field="comment", reason="too_long", limit=COMMENT_MAX)
    with db.atomic():
        Person.update(comment=comment, updated_at=now).where(Person.id == person.id).execute()
        audit.record("person.comment", actor=actor, person=person, now=now, old=person.comment,
                     new=comment)
    person.comment = comment
    return person


@dataclass
class PersonDeleted:
    """What a deletion changed for others: queues left, holds passed on, offers voided."""

    queues: int
    offers: list[queue.Offer]
    voided: list[Handover]


def delete_person(person_id: int, *, actor: Person, now: datetime,
                  hold_hours: int = queue.HOLD_HOURS_DEFAULT) -> PersonDeleted:
    """Soft-delete a person holding nothing; their queue places go, a hold passes on at once.

    Under the person's lock, which takes, assignments, joins and handover answers also hold:
    each either finished before (a device held: refused) or finds the person gone.
    """
    with db.atomic():
        person = lock_person(person_id)
        if actor.id == person.id:
            raise NotAllowed(reason="self")
        held = loans.held_by(person)
        if held:
            raise NotAllowed(reason="holds", count=len(held))
        Person.update(deleted_at=now, updated_at=now).where(Person.id == person.id).execute()
        entries = list(QueueEntry.select(QueueEntry, Device).join(Device)
                       .where(QueueEntry.person == person.id))
        numbers = [entry.device.number for entry in entries]
        QueueEntry.delete().where(QueueEntry.person == person.id).execute()
        # Offers waiting for this person's answer can no longer be accepted.
        voided = handover.void_offers_to(person, now)
        audit.record("person.deleted", actor=actor, person=person, now=now,
                     queues_left=numbers, handovers_voided=len(voided))
    logger.info("person %s deleted by %s", person.id, actor.telegram_id)
    # A hold they had goes to the next in line now, not when someone next opens the device.
    offers = [queue.start_hold(entry.device_id, now, hold_hours)
              for entry in entries if queue.is_live(entry, now)]
    return PersonDeleted(len(numbers), [o for o in offers if o is not None], voided)


def assignee(person_id: int | None, email: str) -> Person:
    """Whom an assignment is for: the person, or an unsaved one known only by email."""
    return get_person(int(person_id)) if person_id else Person(email=email)


def assign(device_id: int, *, person_id: int | None, email: str, actor: Person, now: datetime,
           place: str = "", due_date: date | None = None) -> Loan:
    """An admin records a loan on a person (by id, or by email, created on the spot).

    One transaction: a person created for the assignment is not left behind when the device
    turns out to be taken (AlreadyTaken) or gone (NotFound).
    """
    with db.atomic():
        person = get_person(person_id) if person_id else person_for_email(email, actor=actor,
                                                                           now=now)
        return loans.take(device_id, person, now=now, place=place, due_date=due_date,
                          assigned_by=actor)
