"""The devtrack side of the switch-over: what exists now, and writing a plan in one transaction."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import peewee as pw

from inventory import audit
from inventory.bulk import BATCH, insert_rows, select_rows
from inventory.devices import normalize, search_text_for
from inventory.errors import Conflict
from inventory.import_apply import DEVICE_COLUMNS, LOAN_COLUMNS
from inventory.legacy import (
    Existing,
    ExistingDevice,
    ExistingPerson,
    Plan,
    build_plan,
)
from inventory.legacy_read import LegacyData
from inventory.rows import tuples
from models import Category, Device, Loan, Person, QueueEntry, db

logger = logging.getLogger(__name__)

SOURCE = "legacy"  # audit entries the import writes carry details.source == "legacy"
PERSON_COLUMNS = ("email", "telegram_id", "chat_id", "name", "username", "comment", "reachable",
                  "created_at", "updated_at")
QUEUE_COLUMNS = ("device", "person", "joined_at", "hold_until", "created_at", "updated_at")


@dataclass
class Outcome:
    """A dry run's or an apply's plan, and whether it was written."""

    plan: Plan
    applied: bool = False


def existing_state() -> Existing:
    """devtrack's categories, devices, people, loans and queue, keyed for matching."""
    state = Existing()
    categories = dict(tuples(Category.select(Category.id, Category.name)))
    state.categories = {normalize(name): name for name in categories.values()}
    numbers: dict[int, int] = {}
    for pid, number, name, serial, category in select_rows(
            Device.select(Device.id, Device.number, Device.name, Device.serial,
                          Device.category)):
        numbers[pid] = number
        state.devices[number] = ExistingDevice(pid, name, serial, categories.get(category, ""))
        state.serials[serial.lower()] = number
    emails: dict[int, str] = {}
    for pid, email, telegram_id, chat_id, name, username, deleted in select_rows(
            Person.select(Person.id, Person.email, Person.telegram_id, Person.chat_id,
                          Person.name, Person.username, Person.deleted_at)):
        emails[pid] = email
        state.people[email] = ExistingPerson(pid, telegram_id, chat_id, name, username,
                                             deleted is not None)
        if telegram_id is not None:
            state.telegram_ids[telegram_id] = email
    to_time = Loan.taken_at.python_value  # SQLite returns timestamps as text
    for device, person, taken, returned in select_rows(
            Loan.select(Loan.device, Loan.person, Loan.taken_at, Loan.returned_at)):
        key = (numbers[device], emails[person], to_time(taken))
        state.loans.add(key)
        if returned is None:
            state.open_loans[key[0]] = (key[1], key[2])
    state.queue = {(numbers[device], emails[person]) for device, person in
                   select_rows(QueueEntry.select(QueueEntry.device, QueueEntry.person))}
    return state


def dry_run(legacy: LegacyData, *, tz: ZoneInfo, now: datetime,
            email_domains: tuple[str, ...] = ()) -> Outcome:
    """The plan against devtrack as it is now; writes nothing."""
    plan = build_plan(legacy, existing_state(), tz=tz, now=now, email_domains=email_domains)
    return Outcome(plan)


def apply(legacy: LegacyData, *, tz: ZoneInfo, now: datetime,
          email_domains: tuple[str, ...] = ()) -> Outcome:
    """Plan and write everything in one transaction: all of it or, on any failure, nothing."""
    try:
        with db.atomic():
            # A no-op UPDATE of every device row: takes, returns and queue changes lock their
            # device the same way, so nothing changes under the plan until this commits.
            db.execute_sql('UPDATE "device" SET "id" = "id"')
            plan = build_plan(legacy, existing_state(), tz=tz, now=now,
                              email_domains=email_domains)
            if plan.changes:
                _write(plan, now)
    except pw.IntegrityError as exc:
        # A registration or a new device with one of these emails, ids or serials raced us.
        logger.warning("legacy import conflicts with a concurrent change: %s", exc)
        raise Conflict(field="legacy", value=str(exc)[:200]) from exc
    logger.info("legacy import applied: %d rows written", plan.changes)
    return Outcome(plan, applied=True)


def _entry(action: str, now: datetime, **details: Any) -> dict[str, Any]:
    """An audit row marked as written by the switch-over import."""
    return audit.entry(action, actor=None, now=now, source=SOURCE, **details)


def _write(plan: Plan, now: datetime) -> None:
    """Insert the plan's rows (inside the caller's transaction) and their audit entries."""
    log: list[dict[str, Any]] = []
    devices = _write_devices(plan, now, log)
    people = _write_people(plan, now, log)
    _write_open_loans(plan, devices, people, now, log)
    _write_queue_and_history(plan, devices, people, now, log)
    log.append(_entry("legacy.imported", now, **{kind: new for kind, (new, _) in
                                                 plan.counts.items()},
                      issues=len(plan.issues), from_queue=len(plan.from_queue)))
    audit.record_many(log)


def _write_devices(plan: Plan, now: datetime, log: list[dict[str, Any]]) -> dict[int, int]:
    """New categories and devices; returns every device id by number."""
    insert_rows(Category, ("name", "created_at", "updated_at"),
                [(name, now, now) for name in plan.categories])
    log.extend(_entry("category.created", now, category=name) for name in plan.categories)
    category_ids = {name: cid for cid, name in
                    tuples(Category.select(Category.id, Category.name))}
    insert_rows(Device, DEVICE_COLUMNS, [
        (d.number, d.name, category_ids[d.category], d.serial, d.registered_on, d.firmware,
         d.comment, search_text_for(d.name, d.serial), now, now) for d in plan.devices])
    devices = dict(tuples(Device.select(Device.number, Device.id)))
    log.extend(_entry("device.created", now, device_id=devices[d.number],
                      device_number=d.number, device_name=d.name) for d in plan.devices)
    return devices


def _write_people(plan: Plan, now: datetime, log: list[dict[str, Any]]) -> dict[str, int]:
    """New people, and what existing ones lacked; returns every person id by email."""
    insert_rows(Person, PERSON_COLUMNS, [
        (p.email, p.telegram_id, p.chat_id, p.name, p.username, p.comment, True, now, now)
        for p in plan.people])
    people = dict(tuples(Person.select(Person.email, Person.id)))
    log.extend(_entry("person.created", now, person_id=people[p.email], person_email=p.email,
                      telegram_id=p.telegram_id) for p in plan.people)
    for update in plan.person_updates:
        fields: dict[str, Any] = {name: getattr(update, name) for name in
                                  ("telegram_id", "chat_id", "name", "username")
                                  if getattr(update, name)}
        if update.restore:
            fields["deleted_at"] = None
        Person.update(**fields, updated_at=now).where(Person.id == update.id).execute()
        log.append(_entry("person.restored" if update.restore else "person.updated", now,
                          person_id=update.id, person_email=update.email,
                          changes=sorted(fields)))
    return people


def _write_queue_and_history(plan: Plan, devices: dict[int, int], people: dict[str, int],
                             now: datetime, log: list[dict[str, Any]]) -> None:
    """Queue entries and closed loans (the history)."""
    insert_rows(QueueEntry, QUEUE_COLUMNS, [
        (devices[q.number], people[q.email], q.joined_at, None, now, now) for q in plan.queue])
    log.extend(_entry("queue.joined", now, device_id=devices[q.number],
                      person_id=people[q.email], device_number=q.number, person_email=q.email,
                      joined_at=q.joined_at, legacy_record=q.record_id) for q in plan.queue)
    insert_rows(Loan, LOAN_COLUMNS, [
        (devices[p.number], people[p.email], p.taken_at, None, p.place, p.returned_at,
         None, None, now, now) for p in plan.past_loans])
    per_device = Counter(p.number for p in plan.past_loans)
    log.extend(_entry("history.imported", now, device_id=devices[number], device_number=number,
                      loans=count) for number, count in sorted(per_device.items()))


def _write_open_loans(plan: Plan, devices: dict[int, int], people: dict[str, int],
                      now: datetime, log: list[dict[str, Any]]) -> None:
    """Current holders; as loans.take does, a holder's own wait and others' holds end."""
    insert_rows(Loan, LOAN_COLUMNS, [
        (devices[o.number], people[o.email], o.taken_at, o.due_date, o.place, None, None, None,
         now, now) for o in plan.open_loans])
    log.extend(_entry("loan.taken", now, device_id=devices[o.number], person_id=people[o.email],
                      device_number=o.number, person_email=o.email, taken_at=o.taken_at,
                      due_date=o.due_date, place=o.place, from_queue=o.from_queue,
                      legacy_record=o.record_id) for o in plan.open_loans)
    held = {devices[o.number]: people[o.email] for o in plan.open_loans}
    if not held:
        return
    for chunk in pw.chunked(list(held), BATCH):
        for qid, device, person, hold_until in tuples(QueueEntry.select(
                QueueEntry.id, QueueEntry.device, QueueEntry.person,
                QueueEntry.hold_until).where(QueueEntry.device.in_(chunk))):
            if held[device] == person:
                QueueEntry.delete().where(QueueEntry.id == qid).execute()
            elif hold_until is not None:
                QueueEntry.update(hold_until=None, updated_at=now).where(
                    QueueEntry.id == qid).execute()
                log.append(_entry("hold.cleared", now, device_id=device, person_id=person))
