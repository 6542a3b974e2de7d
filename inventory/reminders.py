"""Due-date reminders: which loans are due when, atomic per-loan claims, the admin digest's data.

Working days are `Config.reminder_weekdays` (Monday=0). On a working day `today` a loan is
reminded when it is overdue, due today, due tomorrow, or due on a non-working day whose last
working day before it is `today` (a due date on Saturday or Sunday is announced on Friday).
Claims use `Loan.reminded_on`: a conditional UPDATE ... RETURNING marks exactly the loans this run
may remind, so a second or parallel run finds nothing left to claim. RETURNING needs
PostgreSQL or SQLite 3.35+.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import peewee as pw

from inventory import audit, jsontext
from models import AuditLog, Device, Loan, Person, db

logger = logging.getLogger(__name__)

DIGEST_ACTION = "reminders.digest"
DIGEST_RELEASED = "reminders.digest.failed"
# pg_advisory_xact_lock key that serialises digest claims across parallel runs.
DIGEST_LOCK = zlib.crc32(b"devtrack.reminders.digest")
# Bound parameters per IN (...) list: far below SQLite's and PostgreSQL's limits.
CHUNK = 500


def due_of(loan: Loan) -> date:
    """The due date of a loan the reminders deal with (their queries only pick loans with one)."""
    if loan.due_date is None:
        raise ValueError(f"loan {loan.id} has no due date")
    return loan.due_date


def is_working_day(day: date, weekdays: frozenset[int]) -> bool:
    """Whether reminders go out on this day."""
    return day.weekday() in weekdays


def next_working_day(day: date, weekdays: frozenset[int]) -> date:
    """The first working day after day (weekdays must not be empty)."""
    if not weekdays:
        raise ValueError("no working weekdays configured")
    following = day + timedelta(days=1)
    while not is_working_day(following, weekdays):
        following += timedelta(days=1)
    return following


def announce_until(today: date, weekdays: frozenset[int]) -> date:
    """The latest due date announced on the working day `today`.

    Tomorrow always; when non-working days follow, every one of them too (they have no working
    day of their own before them except today). A due date on the next working day after a
    weekend gets its «сегодня» reminder on that day, not an early one.
    """
    return max(today + timedelta(days=1), next_working_day(today, weekdays) - timedelta(days=1))


def due_loans(until: date) -> list[Loan]:
    """Open loans due on or before `until` with holder and device: one joined query."""
    query = (
        Loan.select(Loan, Person, Device)
        .join(Person, on=(Loan.person == Person.id))
        .switch(Loan)
        .join(Device, on=(Loan.device == Device.id))
        .where(Loan.returned_at.is_null() & Loan.due_date.is_null(False)
               & (Loan.due_date <= until))
        .order_by(Person.id, Loan.due_date, Device.number)
    )
    return list(query)


def by_person(loans: Iterable[Loan]) -> list[tuple[Person, list[Loan]]]:
    """Group loans (already ordered by person) into one entry per holder."""
    groups: dict[int, tuple[Person, list[Loan]]] = {}
    for loan in loans:
        groups.setdefault(loan.person_id, (loan.person, []))[1].append(loan)
    return list(groups.values())


def pending(loans: Iterable[Loan], today: date) -> list[Loan]:
    """Loans not yet reminded on `today`."""
    return [loan for loan in loans if loan.reminded_on != today]


def _not_reminded(today: date) -> pw.Expression:
    """reminded_on is NULL or another day (another day, not just an earlier one: a run with a
    future --today must not block the real day)."""
    return Loan.reminded_on.is_null() | (Loan.reminded_on != today)


def claim(loan_ids: Iterable[int], today: date, until: date, now: datetime) -> set[int]:
    """Atomically mark loans as reminded today; returns the ids this call actually claimed."""
    ids = sorted(set(loan_ids))
    claimed: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        query = (
            Loan.update(reminded_on=today, updated_at=now)
            .where(Loan.id.in_(ids[start:start + CHUNK]) & Loan.returned_at.is_null()
                   & Loan.due_date.is_null(False) & (Loan.due_date <= until)
                   & _not_reminded(today))
            .returning(Loan.id)
        )
        claimed.update(row[0] for row in query.tuples().execute())
    return claimed


def release(previous: dict[int, date | None], today: date, now: datetime) -> int:
    """Undo claims after a failed send: restore each loan's former reminded_on."""
    by_value: dict[date | None, list[int]] = {}
    for loan_id, value in previous.items():
        by_value.setdefault(value, []).append(loan_id)
    released = 0
    for value, ids in by_value.items():
        for start in range(0, len(ids), CHUNK):
            released += (
                Loan.update(reminded_on=value, updated_at=now)
                .where(Loan.id.in_(ids[start:start + CHUNK]) & (Loan.reminded_on == today))
                .execute()
            )
    return released


# --- admin digest ----------------------------------------------------------------------------


def overdue_loans(today: date) -> list[Loan]:
    """Open loans past their due date with holder and device, most overdue first (one query)."""
    query = (
        Loan.select(Loan, Person, Device)
        .join(Person, on=(Loan.person == Person.id))
        .switch(Loan)
        .join(Device, on=(Loan.device == Device.id))
        .where(Loan.returned_at.is_null() & (Loan.due_date < today))
        .order_by(Loan.due_date, Device.number)
    )
    return list(query)


def unreachable_holders() -> list[tuple[Person, int]]:
    """People the bot cannot write to who still hold devices, with how many (one query).

    That is people marked unreachable and people known only by email (from an import or an
    admin's assignment), who get no reminders until they register.
    """
    count = pw.fn.COUNT(Loan.id).alias("held")
    cannot_write = (Person.reachable == False) | Person.telegram_id.is_null()  # noqa: E712
    query = (
        Person.select(Person, count)
        .join(Loan, on=(Loan.person == Person.id))
        .where(Loan.returned_at.is_null() & cannot_write & Person.deleted_at.is_null())
        .group_by(Person.id)
        .order_by(Person.name, Person.email)
    )
    return [(person, person.held) for person in query]


def _digest_details(today: date, chat_id: int) -> str:
    """The audit details that identify one admin's digest of one day (as audit.record stores)."""
    return jsontext.dumps({"date": today.isoformat(), "chat_id": chat_id})


@contextmanager
def _exclusive() -> Iterator[None]:
    """A transaction that parallel digest claims pass one at a time."""
    database = db.obj
    if isinstance(database, pw.PostgresqlDatabase):
        with db.atomic():
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (DIGEST_LOCK,))
            yield
    else:
        # SQLite: BEGIN IMMEDIATE takes the write lock up front; the other run waits for it.
        with db.atomic(lock_type="IMMEDIATE"):
            yield


def digest_sent(today: date, chat_id: int) -> bool:
    """Whether this admin's digest for today is already recorded."""
    return AuditLog.select().where(
        (AuditLog.action == DIGEST_ACTION) & (AuditLog.details == _digest_details(today, chat_id))
    ).exists()


def claim_digest(today: date, chat_id: int, now: datetime) -> int | None:
    """Record the admin's digest for today unless already there; the audit row id, or None."""
    with _exclusive():
        if digest_sent(today, chat_id):
            return None
        entry = audit.record(DIGEST_ACTION, actor=None, now=now, date=today, chat_id=chat_id)
    return entry.id


def release_digest(entry_id: int, now: datetime) -> None:
    """A digest that could not be delivered: keep the row as history, free the day's claim."""
    AuditLog.update(action=DIGEST_RELEASED, updated_at=now).where(
        (AuditLog.id == entry_id) & (AuditLog.action == DIGEST_ACTION)
    ).execute()
