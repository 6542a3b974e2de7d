"""The database side of the file import: what exists now, and applying a plan atomically."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import peewee as pw

from inventory import audit
from inventory.bulk import BATCH, insert_rows, select_rows, update_rows
from inventory.devices import search_text_for
from inventory.errors import Conflict, NotAllowed, NotFound
from inventory.importing import DeviceRow, ExistingData, ImportPlan
from inventory.loans import queue_to_new_holders
from inventory.locks import lock_devices
from inventory.rows import tuples
from models import Category, Device, Loan, Person, db

logger = logging.getLogger(__name__)

# Fields an import row may change on an existing device; empty optional cells keep the value.
OPTIONAL = ("registered_on", "firmware", "comment")

Progress = Callable[[str, int, int], None]


@dataclass
class ImportResult:
    """What apply_plan wrote."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    loans_created: int = 0
    loans_closed: int = 0
    people_created: int = 0
    # (person whose hold the import ended, device, its new holder): ids, to tell them.
    holds_cleared: list[tuple[int, int, int]] = field(default_factory=list)


def category_key(name: str) -> str:
    """How build_plan looks a category up: single spaces, lower case."""
    return " ".join(name.split()).lower()


def existing_data() -> ExistingData:
    """Devices, serials, categories and open loans for build_plan, in three queries."""
    data = ExistingData()
    for number, name, serial in tuples(Device.select(Device.number, Device.name,
                                              Device.serial)):
        data.devices_by_number[number] = name
        data.numbers_by_serial[serial.lower()] = number
    for (name,) in tuples(Category.select(Category.name)):
        data.categories[category_key(name)] = name
    query = tuples(Loan.select(Device.number, Person.email)
                   .join(Device, on=(Loan.device == Device.id))
                   .switch(Loan).join(Person, on=(Loan.person == Person.id))
                   .where(Loan.returned_at.is_null()))
    data.open_loans = dict(query)
    return data


def _in_chunks(field: pw.Field, values: Iterable[Any]) -> Iterable[pw.Expression]:
    """`field IN (...)` conditions over at most BATCH values each."""
    for chunk in pw.chunked(list(values), BATCH):
        yield field.in_(chunk)


@dataclass
class _Stored:
    """An existing device's columns that an import row may change."""

    id: int
    name: str
    category: int
    serial: str
    registered_on: Any
    firmware: str
    comment: str


def _stored_devices() -> dict[int, _Stored]:
    """Every device by number (one query: cheaper than IN lists at import sizes)."""
    query = Device.select(Device.number, Device.id, Device.name, Device.category, Device.serial,
                          Device.registered_on, Device.firmware, Device.comment)
    to_date = Device.registered_on.python_value  # SQLite returns dates as text
    return {number: _Stored(pid, name, category, serial, to_date(registered), firmware, comment)
            for number, pid, name, category, serial, registered, firmware, comment
            in select_rows(query)}


def _people(emails: list[str], actor: Person | None, now: datetime,
            log: list[dict[str, Any]]) -> tuple[dict[str, int], int]:
    """Ids of the people with these emails; unknown ones are created, deleted ones restored."""
    known = {email: (pid, deleted is not None) for pid, email, deleted in
             tuples(Person.select(Person.id, Person.email, Person.deleted_at))}
    missing = [email for email in emails if email not in known]
    if missing:
        insert_rows(Person, ("email", "telegram_id", "name", "username", "comment", "reachable",
                             "is_admin", "created_at", "updated_at"),
                    [(email, None, "", "", "", True, False, now, now) for email in missing])
        ids = dict(tuples(Person.select(Person.email, Person.id)))
        for email in missing:
            known[email] = (ids[email], False)
            log.append(audit.entry("person.created", actor=actor, now=now,
                                   person_id=ids[email], person_email=email, source="import"))
    restored = [email for email in emails if known[email][1]]
    for condition in _in_chunks(Person.id, [known[email][0] for email in restored]):
        Person.update(deleted_at=None, updated_at=now).where(condition).execute()
    log.extend(audit.entry("person.restored", actor=actor, now=now, person_id=known[email][0],
                           person_email=email, source="import") for email in restored)
    return {email: known[email][0] for email in emails}, len(missing)


DEVICE_COLUMNS = ("number", "name", "category", "serial", "registered_on", "firmware", "comment",
                  "search_text", "created_at", "updated_at")
LOAN_COLUMNS = ("device", "person", "taken_at", "due_date", "place", "returned_at",
                "assigned_by", "reminded_on", "created_at", "updated_at")


def _device_values(row: DeviceRow, category_id: int, now: datetime) -> tuple[Any, ...]:
    """Column values of a new device, in DEVICE_COLUMNS order."""
    return (row.number, row.name, category_id, row.serial, row.registered_on, row.firmware,
            row.comment, search_text_for(row.name, row.serial), now, now)


def _changes(stored: _Stored, row: DeviceRow, category_id: int) -> dict[str, Any]:
    """Fields of an existing device that the row changes (empty optional cells keep values)."""
    wanted: dict[str, Any] = {"name": row.name, "serial": row.serial, "category": category_id}
    for name in OPTIONAL:
        value = getattr(row, name)
        if value not in (None, ""):
            wanted[name] = value
    return {name: value for name, value in wanted.items() if getattr(stored, name) != value}


def apply_plan(
    plan: ImportPlan,
    actor: Person | None,
    now: datetime,
    progress: Progress | None = None,
    *,
    source: str = "",
    seen_loans: dict[int, str] | None = None,
) -> ImportResult:
    """Write a valid plan in one transaction: devices, people, loans and the audit log.

    The devices the file names are locked first (the lock a take holds), so no take, return
    or delete of them interleaves with the import. `seen_loans` (number → holder email, as the
    plan saw them) refuses the import with Conflict when one of them was taken or returned
    since the plan was made: the plan would close or keep a loan it never saw.
    """
    if not plan.ok:
        raise NotAllowed(reason="errors", count=len(plan.errors))
    report = progress or (lambda stage, done, total: None)
    result = ImportResult()
    log: list[dict[str, Any]] = []
    total = len(plan.new) + len(plan.updates)
    try:
        with db.atomic():
            category_ids = {name: cid for cid, name in
                            tuples(Category.select(Category.id, Category.name))}
            _lock_named(plan, seen_loans)
            stored = _stored_devices()
            _check_still_valid(plan, category_ids, stored)
            done = 0
            for batch in pw.chunked(plan.new, BATCH * 4):
                insert_rows(Device, DEVICE_COLUMNS,
                            [_device_values(row, category_ids[row.category], now)
                             for row in batch])
                done += len(batch)
                report("devices", done, total)
            _apply_updates(plan.updates, stored, category_ids, actor, now, log, result)
            report("devices", total, total)

            ids = {number: device.id for number, device in stored.items()}
            if plan.new:
                ids = dict(tuples(Device.select(Device.number, Device.id)))
            log.extend(audit.entry("device.created", actor=actor, now=now,
                                   device_id=ids[row.number], device_number=row.number,
                                   device_name=row.name, source="import") for row in plan.new)
            result.created = len(plan.new)

            _apply_loans(plan.loans, ids, actor, now, log, result, report)
            log.append(audit.entry("import.applied", actor=actor, now=now, source=source,
                                   created=result.created, updated=result.updated,
                                   unchanged=result.unchanged, loans=result.loans_created,
                                   loans_closed=result.loans_closed,
                                   people_created=result.people_created))
            audit.record_many(log)
            report("audit", len(log), len(log))
    except pw.IntegrityError as exc:
        # A device with one of these numbers or serials appeared since the preview.
        logger.warning("import conflicts with a concurrent change: %s", exc)
        raise Conflict(field="device", value=str(exc)[:200]) from exc
    logger.info("import applied: %s", result)
    return result


def _check_still_valid(plan: ImportPlan, category_ids: dict[str, int],
                       stored: dict[int, _Stored]) -> None:
    """Under the locks: the plan's categories exist, new numbers are new, updated ones exist."""
    for row in plan.new + plan.updates:
        if row.category not in category_ids:
            raise NotFound(category=row.category)
    for row in plan.new:
        if row.number in stored:
            raise Conflict(field="number", value=row.number)
    for row in plan.updates:
        if row.number not in stored:
            raise NotFound(number=row.number)


def _lock_named(plan: ImportPlan, seen_loans: dict[int, str] | None) -> None:
    """Lock the existing devices of the plan; Conflict when their loans changed since the plan."""
    numbers = [row.number for row in plan.updates]
    if not numbers:
        return
    ids: list[int] = []
    for condition in _in_chunks(Device.number, numbers):
        ids.extend(i for (i,) in tuples(Device.select(Device.id).where(condition)))
    lock_devices(ids)
    if seen_loans is None:
        return
    wanted = set(numbers)
    now_held = {number: email for number, email in
                tuples(Loan.select(Device.number, Person.email)
                       .join(Device, on=(Loan.device == Device.id))
                       .switch(Loan).join(Person, on=(Loan.person == Person.id))
                       .where(Loan.returned_at.is_null()))
                if number in wanted}
    changed = sorted(n for n in wanted if now_held.get(n) != seen_loans.get(n))
    if changed:
        raise Conflict(reason="loans changed", numbers=changed[:20])


def cleared_holds(result: ImportResult) -> list[tuple[Person, Device, Person]]:
    """The holds an import ended, as (person, device, new holder) rows to tell them."""
    if not result.holds_cleared:
        return []
    wanted_people = {p for p, _, h in result.holds_cleared} | {h for _, _, h in
                                                                result.holds_cleared}
    people = {p.id: p for p in Person.select().where(Person.id.in_(list(wanted_people)))}
    devices = {d.id: d for d in Device.select().where(
        Device.id.in_([d for _, d, _ in result.holds_cleared]))}
    return [(people[p], devices[d], people[h]) for p, d, h in result.holds_cleared]


def _apply_updates(rows: list[DeviceRow], stored: dict[int, _Stored],
                   category_ids: dict[str, int], actor: Person | None, now: datetime,
                   log: list[dict[str, Any]], result: ImportResult) -> None:
    """Change what differs on existing devices; rows with the same changed columns go together."""
    groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    loan_changes = _loan_changes(rows, stored, actor, now, log)
    for row in rows:
        device = stored[row.number]
        changes = _changes(device, row, category_ids[row.category])
        if not changes:
            if row.number in loan_changes:
                result.updated += 1
            else:
                result.unchanged += 1
            continue
        names = tuple(sorted(changes))
        name = changes.get("name", device.name)
        serial = changes.get("serial", device.serial)
        groups.setdefault(names, []).append(
            (device.id, *(changes[n] for n in names), search_text_for(name, serial), now))
        log.append(audit.entry("device.updated", actor=actor, now=now, device_id=device.id,
                               device_number=row.number, device_name=name, source="import",
                               changes={k: [getattr(device, k), v]
                                        for k, v in changes.items()}))
        result.updated += 1
    for names, values in groups.items():
        update_rows(Device, (*names, "search_text", "updated_at"), values)


def _loan_changes(rows: list[DeviceRow], stored: dict[int, _Stored], actor: Person | None,
                  now: datetime, log: list[dict[str, Any]]) -> set[int]:
    """New place and due date of rows naming the device's current holder; returns their numbers.

    Empty cells keep the loan's values, as they keep a device's optional fields.
    """
    wanted = {stored[row.number].id: row for row in rows if row.email}
    if not wanted:
        return set()
    query = tuples(Loan.select(Loan.id, Loan.device, Person.email, Loan.place, Loan.due_date)
                   .join(Person, on=(Loan.person == Person.id))
                   .where(Loan.returned_at.is_null()))
    to_date = Loan.due_date.python_value  # SQLite returns dates as text
    changed: set[int] = set()
    for loan_id, device_id, email, place, due in query:
        row = wanted.get(device_id)
        if row is None or row.email != email.lower():
            continue
        updates: dict[str, Any] = {}
        if row.place and row.place != place:
            updates["place"] = row.place
        if row.due_date is not None and row.due_date != to_date(due):
            updates["due_date"] = row.due_date
        if not updates:
            continue
        Loan.update(**updates, updated_at=now).where(Loan.id == loan_id).execute()
        log.append(audit.entry("loan.changed", actor=actor, now=now, device_id=device_id,
                               device_number=row.number, person_email=email, source="import",
                               **updates))
        changed.add(row.number)
    return changed


def _apply_loans(rows: list[DeviceRow], ids: dict[int, int], actor: Person | None,
                 now: datetime, log: list[dict[str, Any]], result: ImportResult,
                 report: Progress) -> None:
    """Close the open loans of these devices and give each to the person the row names."""
    if not rows:
        return
    people, result.people_created = _people(sorted({row.email for row in rows}), actor, now, log)
    numbers = {device_id: number for number, device_id in ids.items()}
    device_ids = {ids[row.number] for row in rows}
    result.loans_closed = _close_open_loans(device_ids, numbers, actor, now, log)
    done = 0
    actor_id = actor.id if actor else None
    for batch in pw.chunked(rows, BATCH * 4):
        insert_rows(Loan, LOAN_COLUMNS,
                    [(ids[row.number], people[row.email], now, row.due_date, row.place, None,
                      actor_id, None, now, now) for row in batch])
        done += len(batch)
        report("loans", done, len(rows))
    log.extend(audit.entry("loan.assigned", actor=actor, now=now, device_id=ids[row.number],
                           person_id=people[row.email], device_number=row.number,
                           device_name=row.name, person_email=row.email, place=row.place,
                           due_date=row.due_date, source="import") for row in rows)
    result.loans_created = len(rows)
    new_holder = {ids[row.number]: people[row.email] for row in rows}
    _queue_after_loans(new_holder, numbers, actor, now, log, result)


def _close_open_loans(device_ids: set[int], numbers: dict[int, int], actor: Person | None,
                      now: datetime, log: list[dict[str, Any]]) -> int:
    """Return the open loans of these devices (audited); how many were closed."""
    closing = [
        loan for loan in
        tuples(Loan.select(Loan.id, Loan.device, Person.id, Person.email)
               .join(Person, on=(Loan.person == Person.id))
               .where(Loan.returned_at.is_null()))
        if loan[1] in device_ids
    ]
    for condition in _in_chunks(Loan.id, [loan_id for loan_id, _, _, _ in closing]):
        Loan.update(returned_at=now, updated_at=now).where(
            condition & Loan.returned_at.is_null()).execute()
    log.extend(audit.entry("loan.unassigned", actor=actor, now=now, device_id=device_id,
                           person_id=pid, device_number=numbers[device_id], person_email=email,
                           loan_id=loan_id, source="import")
               for loan_id, device_id, pid, email in closing)
    return len(closing)


def _queue_after_loans(new_holder: dict[int, int], numbers: dict[int, int],
                       actor: Person | None, now: datetime, log: list[dict[str, Any]],
                       result: ImportResult) -> None:
    """The queue after the new loans, by the rule take follows (loans.queue_to_new_holders)."""
    for held in queue_to_new_holders(new_holder, now):
        result.holds_cleared.append((held.person_id, held.device_id, new_holder[held.device_id]))
        log.append(audit.entry("hold.cleared", actor=actor, now=now, device_id=held.device_id,
                               person_id=held.person_id, device_number=numbers[held.device_id],
                               source="import"))
