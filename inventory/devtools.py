"""Developer tools: audit of developer actions, the code lock-out, log tail, purge and wipe."""

from __future__ import annotations

import hmac
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import peewee as pw

from inventory import audit, backup, jsontext
from inventory.devices import ensure_categories
from inventory.errors import Conflict
from inventory.locks import lock_devices
from models import AuditLog, Category, Device, Loan, Person, QueueEntry, db

logger = logging.getLogger(__name__)

LOCK_ATTEMPTS = 3
LOCK_PERIOD = timedelta(minutes=15)

CODE_FAILED = "dev.code_failed"
CODE_OK = "dev.code_ok"
LOCKED = "dev.locked"
PURGED_DEVICE = "device.purged"
PURGE_RETRIES = 3
PREVIEW = 20


def record(action: str, *, telegram_id: int, person: Person | None, now: datetime,
           **details: Any) -> AuditLog:
    """Audit a developer action under the actor's Telegram id and log it (never the code)."""
    entry = AuditLog.create(
        action=action,
        actor=person,
        actor_telegram_id=telegram_id,
        details=jsontext.dumps(details),
        created_at=now,
        updated_at=now,
    )
    logger.info("developer %s: %s %s", telegram_id, action, " ".join(
        f"{k}={v}" for k, v in details.items() if not isinstance(v, (list, dict))))
    return entry


def check_code(typed: str, expected: str) -> bool:
    """Constant-time comparison of the typed code with DEVELOPER_CODE (empty never matches)."""
    if not expected:
        return False
    return hmac.compare_digest(typed.strip().encode(), expected.encode())


# --------------------------------------------------------------------------- lock-out


def _recent(telegram_id: int, now: datetime) -> list[AuditLog]:
    """This developer's code events of the last LOCK_PERIOD, newest first."""
    return list(
        AuditLog.select(AuditLog.action, AuditLog.created_at)
        .where((AuditLog.actor_telegram_id == telegram_id)
               & AuditLog.action.in_((CODE_FAILED, CODE_OK, LOCKED))
               & (AuditLog.created_at > now - LOCK_PERIOD)
               & (AuditLog.created_at <= now))
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
    )


def locked_until(telegram_id: int, now: datetime) -> datetime | None:
    """When the lock-out of this developer ends, if destructive actions are locked now."""
    for event in _recent(telegram_id, now):
        if event.action == LOCKED:
            return event.created_at + LOCK_PERIOD
    return None


def failures(telegram_id: int, now: datetime) -> int:
    """Wrong codes in a row within LOCK_PERIOD since the last right code or lock-out."""
    count = 0
    for event in _recent(telegram_id, now):
        if event.action != CODE_FAILED:
            break
        count += 1
    return count


def code_failed(telegram_id: int, person: Person | None, now: datetime,
                action: str) -> tuple[int, datetime | None]:
    """Record a wrong code: (attempts left, end of the lock-out if this one locked)."""
    with db.atomic():
        record(CODE_FAILED, telegram_id=telegram_id, person=person, now=now, for_action=action)
        count = failures(telegram_id, now)
        if count < LOCK_ATTEMPTS:
            return LOCK_ATTEMPTS - count, None
        record(LOCKED, telegram_id=telegram_id, person=person, now=now, failures=count,
               minutes=LOCK_PERIOD // timedelta(minutes=1))
    logger.warning("developer %s locked out of destructive actions until %s", telegram_id,
                   now + LOCK_PERIOD)
    return 0, now + LOCK_PERIOD


# --------------------------------------------------------------------------- logs


def tail_lines(path: str, count: int, block: int = 64 * 1024) -> list[str] | None:
    """The last count lines of a text file (None when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            position = handle.tell()
            data = b""
            while position > 0 and data.count(b"\n") <= count:
                step = min(block, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
    except FileNotFoundError:
        return None
    lines = data.decode(errors="replace").splitlines()  # bytes.decode is always UTF-8
    return lines[-count:] if count > 0 else []


def read_log(path: str, limit: int) -> tuple[bytes, bool] | None:
    """The log file's bytes (its last `limit` bytes when larger, flagged) or None if missing."""
    try:
        size = Path(path).stat().st_size
        with open(path, "rb") as handle:
            handle.seek(max(0, size - limit))
            return handle.read(), size > limit
    except FileNotFoundError:
        return None


# --------------------------------------------------------------------------- purge


@dataclass
class CategoryFree:
    """A category and how many of its devices are free."""

    category: Category
    free: int
    total: int


def _held_ids() -> pw.ModelSelect[Loan]:
    """Ids of the devices somebody holds now."""
    return Loan.select(Loan.device).where(Loan.returned_at.is_null())


def free_by_category() -> list[CategoryFree]:
    """Every category with its free and total device counts, by name."""
    # COUNT of the free devices' ids: a category without devices joins one row whose id is
    # NULL, and NULL NOT IN (nothing held) is true, so a SUM of 1s would count it as free.
    free = pw.fn.COUNT(pw.Case(None, [(Device.id.not_in(_held_ids()), Device.id)]))
    query = (
        Category.select(Category, pw.fn.COUNT(Device.id).alias("total"), free.alias("free"))
        .join(Device, pw.JOIN.LEFT_OUTER)
        .group_by(Category.id)
        .order_by(Category.name)
    )
    return [CategoryFree(c, c.free, c.total) for c in query]  # type: ignore[arg-type]  # COUNTs: never NULL


@dataclass
class PurgePlan:
    """What a purge would delete: the free devices of a scope and what goes with them."""

    category: Category | None
    devices: list[Device] = field(default_factory=list)
    held: int = 0
    loans: int = 0
    queue: int = 0

    @property
    def device_ids(self) -> list[int]:
        """Ids of the devices to delete."""
        return [d.id for d in self.devices]


def _scope(category_id: int | None) -> pw.ColumnBase:
    """Devices of one category, or all of them."""
    return Device.category == category_id if category_id is not None else pw.SQL("1 = 1")


def purge_plan(category_id: int | None) -> PurgePlan:
    """The free devices of a category (or all) with counts of their history and queue."""
    category = None
    if category_id is not None:
        category = Category.get_or_none(Category.id == category_id)
        if category is None:
            raise Conflict(reason="category gone", category_id=category_id)
    scope = _scope(category_id)
    free = list(Device.select().where(scope & Device.id.not_in(_held_ids()))
                .order_by(Device.number))
    plan = PurgePlan(category, free)
    plan.held = Device.select().where(scope & Device.id.in_(_held_ids())).count()
    if free:
        ids = plan.device_ids
        plan.loans = Loan.select().where(Loan.device.in_(ids)).count()
        plan.queue = QueueEntry.select().where(QueueEntry.device.in_(ids)).count()
    return plan


class _Raced(Exception):
    """A device was taken between choosing and deleting: roll back and choose again."""


def _iso(value: date | datetime | None) -> str | None:
    """ISO text of a date or datetime (None stays None)."""
    return value.isoformat() if value is not None else None


def _history(ids: list[int]) -> tuple[dict[int, list[dict]], dict[int, list[str]]]:
    """Loans and queue of the devices, per device id, as plain values for the audit log."""
    Assigner = Person.alias()  # peewee names it in the SQL
    loans: dict[int, list[dict]] = defaultdict(list)
    query = (Loan.select(Loan, Person, Assigner).join(Person, on=(Loan.person == Person.id))
             .switch(Loan)
             .join(Assigner, pw.JOIN.LEFT_OUTER, on=(Loan.assigned_by == Assigner.id),
                   attr="assigner")
             .where(Loan.device.in_(ids)).order_by(Loan.taken_at, Loan.id))
    for loan in query:
        assigner = loan.assigner  # type: ignore[attr-defined]  # None when the outer join finds nobody
        loans[loan.device_id].append({
            "person_email": loan.person.email,
            "taken_at": _iso(loan.taken_at),
            "returned_at": _iso(loan.returned_at),
            "due_date": _iso(loan.due_date),
            "place": loan.place,
            "assigned_by": assigner.email if assigner is not None else None,
        })
    queue: dict[int, list[str]] = defaultdict(list)
    for entry in (QueueEntry.select(QueueEntry, Person).join(Person)
                  .where(QueueEntry.device.in_(ids)).order_by(QueueEntry.joined_at)):
        queue[entry.device_id].append(entry.person.email)
    return loans, queue


def _purge_once(ids: list[int], person: Person | None, now: datetime,
                waiting: list[tuple[Person, Device]] | None) -> list[Device]:
    """Delete the still-free devices among ids, auditing each with its history."""
    # The devices' locks, as a take holds them: nothing is taken between the choice and the
    # delete, and a take waiting for a lock finds its device gone afterwards.
    lock_devices(ids)
    candidates = list(Device.select(Device, Category).join(Category)
                      .where(Device.id.in_(ids) & Device.id.not_in(_held_ids()))
                      .order_by(Device.number))
    if not candidates:
        return []
    chosen = [d.id for d in candidates]
    loans, queue = _history(chosen)
    for device in candidates:
        audit.record(PURGED_DEVICE, actor=person, device=device, now=now,
                     serial=device.serial, category=device.category.name,
                     registered_on=device.registered_on, firmware=device.firmware,
                     comment=device.comment, loans=loans.get(device.id, []),
                     queue=queue.get(device.id, []))
    if waiting is not None:
        by_id = {d.id: d for d in candidates}
        waiting.extend((entry.person, by_id[entry.device_id]) for entry in
                       QueueEntry.select(QueueEntry, Person).join(Person)
                       .where(QueueEntry.device.in_(chosen))
                       .order_by(QueueEntry.device, QueueEntry.joined_at, QueueEntry.id))
    deleted = (Device.delete()
               .where(Device.id.in_(chosen) & Device.id.not_in(_held_ids()))
               .execute())
    if deleted != len(chosen):
        raise _Raced()
    return candidates


def purge(device_ids: list[int], *, person: Person | None, telegram_id: int, now: datetime,
          category: str = "", waiting: list[tuple[Person, Device]] | None = None) -> list[Device]:
    """Delete the devices among device_ids that are free now; held ones are never touched.

    `waiting`, when given, receives (person, device) for everyone who queued for a deleted
    device or had it held, so they can be told.
    """
    for _ in range(PURGE_RETRIES):
        told: list[tuple[Person, Device]] = []
        try:
            with db.atomic():
                deleted = _purge_once(device_ids, person, now, told)
                record("dev.purge", telegram_id=telegram_id, person=person, now=now,
                       category=category or None, asked=len(device_ids), deleted=len(deleted),
                       numbers=[d.number for d in deleted])
            if waiting is not None:
                waiting.extend(told)
            return deleted
        except _Raced:
            logger.info("purge raced with a take; choosing the free devices again")
    raise Conflict(reason="devices keep being taken during the purge")


# --------------------------------------------------------------------------- dump and wipe


class DumpFailed(Exception):
    """The database refused to be read for a dump (the cause is chained)."""


def dump_database(now: datetime) -> backup.DumpFile:
    """A dump of the bot's own database; DumpFailed when the database refuses."""
    try:
        return backup.make_dump(db.obj, now)
    except pw.PeeweeException as exc:
        raise DumpFailed(str(exc)) from exc



def wipe_database(*, categories: tuple[str, ...], telegram_id: int,
                  now: datetime) -> tuple[str, int]:
    """Drop and recreate every table of the bot's database, seed the categories, audit it."""
    counts = backup.row_counts()
    version = backup.wipe(db.obj)
    created = ensure_categories(categories, now)
    record("dev.wipe", telegram_id=telegram_id, person=None, now=now, removed=counts,
           schema_version=version, categories=created)
    return version, created
