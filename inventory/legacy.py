"""Switch-over from the predecessor bot: map its rows onto devtrack's, find conflicts, plan.

Pure: `build_plan(legacy, existing, tz=, now=)` turns what the predecessor holds and what devtrack
already has into the rows to write and one `Issue` per conflict, each with what the import does
about it. Devices are matched by number, people by email (case-insensitive), loans by (device,
person, taken_at) and queue entries by (device, person), so planning again after an apply finds
nothing new. Writing is `inventory.legacy_apply`; reading the predecessor `inventory.legacy_read`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from inventory.devices import normalize
from inventory.legacy_read import LegacyData, Record, Visitor
from inventory.people import EMAIL_RE

logger = logging.getLogger(__name__)

NAME_MAX, SERIAL_MAX, PLACE_MAX, CATEGORY_MAX, USERNAME_MAX = 200, 200, 200, 100, 64
# A take whose row was created this much earlier than the take itself (and has no due date) was
# a queue entry the predecessor turned into a take when the device came back.
QUEUE_GIFT_GAP = timedelta(minutes=10)
KINDS = ("categories", "devices", "people", "open_loans", "queue", "past_loans")


@dataclass(frozen=True)
class Issue:
    """One conflict and what the import does about it (`kind` names the report template)."""

    kind: str
    values: dict[str, Any]


@dataclass
class ExistingPerson:
    """A devtrack person the import may match by email."""

    id: int
    telegram_id: int | None
    chat_id: int | None
    name: str
    username: str
    deleted: bool


@dataclass
class ExistingDevice:
    """A devtrack device the import may match by number."""

    id: int
    name: str
    serial: str
    category: str


@dataclass
class Existing:
    """What devtrack holds now, keyed the way the import matches."""

    categories: dict[str, str] = field(default_factory=dict)  # normalize(name) -> name
    devices: dict[int, ExistingDevice] = field(default_factory=dict)  # by number
    serials: dict[str, int] = field(default_factory=dict)  # serial.lower() -> number
    people: dict[str, ExistingPerson] = field(default_factory=dict)  # by email
    telegram_ids: dict[int, str] = field(default_factory=dict)  # telegram id -> email
    open_loans: dict[int, tuple[str, datetime]] = field(default_factory=dict)  # number -> holder
    loans: set[tuple[int, str, datetime]] = field(default_factory=set)  # (number, email, taken)
    queue: set[tuple[int, str]] = field(default_factory=set)  # (number, email)


@dataclass
class NewDevice:
    """A device to create."""

    number: int
    name: str
    category: str
    serial: str
    registered_on: date | None
    firmware: str
    comment: str


@dataclass
class PersonRow:
    """A person to create, or the fields to fill in on an existing one (id set)."""

    email: str
    telegram_id: int | None = None
    chat_id: int | None = None
    name: str = ""
    username: str = ""
    comment: str = ""
    id: int | None = None
    restore: bool = False


@dataclass
class LoanRow:
    """An open (returned_at None) or closed loan to create."""

    number: int
    email: str
    taken_at: datetime
    due_date: date | None = None
    place: str = ""
    returned_at: datetime | None = None
    from_queue: bool = False
    record_id: int = 0


@dataclass
class QueueRow:
    """A queue entry to create; entries are written in plan order."""

    number: int
    email: str
    joined_at: datetime
    record_id: int = 0


@dataclass
class Admin:
    """A predecessor admin, for ADMIN_IDS."""

    email: str
    name: str
    telegram_id: int | None


@dataclass
class Plan:
    """Everything the import would write, the conflicts and the counts for the report."""

    categories: list[str] = field(default_factory=list)
    devices: list[NewDevice] = field(default_factory=list)
    people: list[PersonRow] = field(default_factory=list)
    person_updates: list[PersonRow] = field(default_factory=list)
    open_loans: list[LoanRow] = field(default_factory=list)
    queue: list[QueueRow] = field(default_factory=list)
    past_loans: list[LoanRow] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    admins: list[Admin] = field(default_factory=list)
    # kind -> [new, already in devtrack]
    counts: dict[str, list[int]] = field(default_factory=lambda: {k: [0, 0] for k in KINDS})
    history_since: datetime | None = None
    version: str = ""
    planned_loans: set[tuple[int, str, datetime]] = field(default_factory=set, repr=False)

    @property
    def from_queue(self) -> list[LoanRow]:
        """Open loans the predecessor had given to the first in the queue on a return."""
        return [loan for loan in self.open_loans if loan.from_queue]

    @property
    def changes(self) -> int:
        """How many rows the apply would write or change (0: nothing to do)."""
        return (len(self.categories) + len(self.devices) + len(self.people)
                + len(self.person_updates) + len(self.open_loans) + len(self.queue)
                + len(self.past_loans))

    def issue(self, kind: str, **values: Any) -> None:
        """Add a conflict line."""
        self.issues.append(Issue(kind, values))

    def count(self, kind: str, new: bool) -> None:
        """Count one predecessor row as new or as already in devtrack."""
        self.counts[kind][0 if new else 1] += 1


def _clip(value: str | None, limit: int) -> str:
    """Trimmed text within a column's length."""
    return (value or "").strip()[:limit]


class _Clock:
    """Naive predecessor timestamps (local time in tz) as devtrack's naive UTC, never future."""

    def __init__(self, tz: ZoneInfo, now: datetime, plan: Plan) -> None:
        self.tz, self.now, self.plan = tz, now, plan
        self.today = now.replace(tzinfo=UTC).astimezone(tz).date()

    def utc(self, moment: datetime) -> datetime:
        """The local naive moment in UTC (naive)."""
        return moment.replace(tzinfo=self.tz).astimezone(UTC).replace(tzinfo=None)

    def past(self, moment: datetime, record: Record, column: str) -> datetime:
        """utc(moment), or now when it lies in the future (reported)."""
        value = self.utc(moment)
        if value > self.now:
            self.plan.issue("future_date", record=record.id, number=record.resource_id,
                            email=record.user_email, column=column, value=moment)
            return self.now
        return value


def build_plan(legacy: LegacyData, existing: Existing, *, tz: ZoneInfo, now: datetime,
               email_domains: tuple[str, ...] = ()) -> Plan:
    """Map the predecessor's rows onto devtrack, with every conflict and what is done about it."""
    plan = Plan(version=legacy.version)
    clock = _Clock(tz, now, plan)
    categories = _plan_categories(legacy, existing, plan)
    numbers = _plan_devices(legacy, existing, categories, clock, plan)
    people = _plan_people(legacy.visitors, existing, plan, email_domains)
    records = _resolve_records(legacy.records, numbers, people, existing, plan)
    holders = _plan_open_loans(records, existing, clock, plan)
    _plan_queue(records, existing, holders, clock, plan)
    _plan_past_loans(records, existing, clock, plan)
    logger.info("legacy plan: %d changes, %d issues", plan.changes, len(plan.issues))
    return plan


# --- categories and devices ------------------------------------------------------------------


def _plan_categories(legacy: LegacyData, existing: Existing, plan: Plan) -> dict[str, str]:
    """devtrack's category name for each predecessor name (new ones planned)."""
    known = dict(existing.categories)
    mapped: dict[str, str] = {}
    listed = set(legacy.categories)
    names = list(legacy.categories) + [r.category_name for r in legacy.resources
                                        if r.category_name not in listed]
    seen: set[str] = set()  # normalize(name) of the spellings met so far
    for raw in names:
        if raw in mapped:
            continue
        name = " ".join((raw or "").split())[:CATEGORY_MAX] or "—"
        key = normalize(name)
        if raw not in listed:
            plan.issue("missing_category", name=raw)
            listed.add(raw)
        if key in seen:
            mapped[raw] = known[key]
            plan.issue("category_merged", name=raw, kept=known[key])
            continue
        seen.add(key)
        if key in known:
            mapped[raw] = known[key]
            plan.count("categories", new=False)
            continue
        known[key] = mapped[raw] = name
        plan.categories.append(name)
        plan.count("categories", new=True)
    return mapped


def _plan_devices(legacy: LegacyData, existing: Existing, categories: dict[str, str],
                  clock: _Clock, plan: Plan) -> set[int]:
    """New devices, and the numbers devtrack will know (existing ones matched by number)."""
    serials = dict(existing.serials)
    numbers = set()
    for res in legacy.resources:
        numbers.add(res.id)
        name = " ".join((res.name or "").split())[:NAME_MAX] or f"№{res.id}"
        serial = " ".join((res.vendor_code or "").split())[:SERIAL_MAX]
        category = categories[res.category_name]
        found = existing.devices.get(res.id)
        if found is not None:
            plan.count("devices", new=False)
            _compare_device(found, res.id, name, serial, category, plan)
            continue
        serial = _free_serial(serial, res.id, serials, plan)
        serials[serial.lower()] = res.id
        registered = res.reg_date.date() if res.reg_date else None
        if registered is not None and registered > clock.today:
            plan.issue("future_registration", number=res.id, value=registered)
        plan.devices.append(NewDevice(res.id, name, category, serial, registered,
                                      _clip(res.firmware, 200), (res.comment or "").strip()))
        plan.count("devices", new=True)
    return numbers


def _compare_device(found: ExistingDevice, number: int, name: str, serial: str, category: str,
                    plan: Plan) -> None:
    """An issue when a device devtrack already has differs from the predecessor's."""
    differs = [label for label, ours, theirs in (
        ("name", found.name, name), ("serial", found.serial.lower(), serial.lower()),
        ("category", normalize(found.category), normalize(category))) if ours != theirs]
    if differs:
        plan.issue("device_differs", number=number, fields=differs, name=found.name,
                   legacy_name=name)


def _free_serial(serial: str, number: int, serials: dict[str, int], plan: Plan) -> str:
    """The serial a new device gets: «№N» for none, suffixed when another device has it."""
    if not serial:
        serial = f"№{number}"
        plan.issue("serial_empty", number=number, serial=serial)
    other = serials.get(serial.lower())
    if other is None or other == number:
        return serial
    wanted, suffix = serial, 1
    serial = f"{wanted[:SERIAL_MAX - 12]} (№{number})"
    while serial.lower() in serials:
        suffix += 1
        serial = f"{wanted[:SERIAL_MAX - 16]} (№{number}-{suffix})"
    plan.issue("serial_taken", number=number, serial=wanted, other=other, new_serial=serial)
    return serial


# --- people ----------------------------------------------------------------------------------


def _rank(visitor: Visitor) -> tuple[bool, datetime]:
    """Order of preference among spellings of one email: registered, then latest change."""
    return (visitor.user_id is not None, visitor.updated_at or datetime.min)


def _plan_people(visitors: list[Visitor], existing: Existing, plan: Plan,
                 email_domains: tuple[str, ...]) -> dict[str, str]:
    """devtrack email (lower case) for each predecessor spelling; people created or filled in."""
    groups: dict[str, list[Visitor]] = defaultdict(list)
    for visitor in visitors:
        groups[visitor.email.strip().lower()].append(visitor)
    spelled: dict[str, str] = {}
    taken_ids = dict(existing.telegram_ids)
    for email in sorted(groups):
        group = sorted(groups[email], key=_rank, reverse=True)
        for visitor in group:
            spelled[visitor.email] = email
        _check_person_email(group, email, plan, email_domains)
        row = _person_row(group, email, plan)
        _claim_telegram_id(row, taken_ids, plan)
        if any(v.is_admin for v in group):
            plan.admins.append(Admin(email, row.name, row.telegram_id))
        _match_person(row, existing, plan)
    return spelled


def _check_person_email(group: list[Visitor], email: str, plan: Plan,
                        email_domains: tuple[str, ...]) -> None:
    """Issues about one email: several spellings, not an address, outside EMAIL_DOMAINS."""
    if len(group) > 1:
        plan.issue("email_cases", emails=[v.email for v in group], email=email)
    if not EMAIL_RE.match(email):
        plan.issue("email_invalid", email=email)
    elif email_domains and email.rsplit("@", 1)[1] not in email_domains:
        plan.issue("email_domain", email=email)


def _first_text(values: Iterable[str | None]) -> str:
    """The first value that is not blank, stripped ('' when none is)."""
    return next((text for value in values if (text := (value or "").strip())), "")


def _person_row(group: list[Visitor], email: str, plan: Plan) -> PersonRow:
    """One person from the predecessor's rows of one email, best-ranked row first."""
    ids = list(dict.fromkeys(v.user_id for v in group if v.user_id is not None))
    if len(ids) > 1:
        plan.issue("telegram_ids_differ", email=email, ids=ids, kept=ids[0])
    return PersonRow(
        email=email,
        telegram_id=ids[0] if ids else None,
        chat_id=next((v.chat_id for v in group if v.chat_id is not None), None),
        name=_clip(next((v.full_name for v in group if (v.full_name or "").strip()), ""),
                   NAME_MAX),
        username=_clip(next((v.username for v in group if (v.username or "").strip()), ""),
                       USERNAME_MAX + 1).lstrip("@")[:USERNAME_MAX],
        comment=_first_text(v.comment for v in group),
    )


def _claim_telegram_id(row: PersonRow, taken_ids: dict[int, str], plan: Plan) -> None:
    """Keep the row's Telegram id unless another email has it (then the row loses it)."""
    if row.telegram_id is None:
        return
    owner = taken_ids.get(row.telegram_id)
    if owner is not None and owner != row.email:
        plan.issue("telegram_id_taken", email=row.email, telegram_id=row.telegram_id,
                   other=owner)
        row.telegram_id = None
    elif owner is None:
        taken_ids[row.telegram_id] = row.email


def _match_person(row: PersonRow, existing: Existing, plan: Plan) -> None:
    """Plan a new person, or fill in what an existing one lacks."""
    found = existing.people.get(row.email)
    if found is None:
        plan.people.append(row)
        plan.count("people", new=True)
        return
    plan.count("people", new=False)
    update = PersonRow(email=row.email, id=found.id, restore=found.deleted)
    if found.telegram_id is None and row.telegram_id is not None:
        update.telegram_id = row.telegram_id
    elif row.telegram_id is not None and found.telegram_id != row.telegram_id:
        plan.issue("telegram_id_differs", email=row.email, telegram_id=row.telegram_id,
                   ours=found.telegram_id)
    update.chat_id = row.chat_id if found.chat_id is None else None
    update.name = row.name if not found.name else ""
    update.username = row.username if not found.username else ""
    if found.deleted:
        plan.issue("person_restored", email=row.email)
    if update.restore or any(getattr(update, name) for name in
                             ("telegram_id", "chat_id", "name", "username")):
        plan.person_updates.append(update)


# --- records ---------------------------------------------------------------------------------


@dataclass
class _Rec:
    """A record whose device and person are known: (record, devtrack email)."""

    record: Record
    email: str


def _resolve_records(records: list[Record], numbers: set[int], people: dict[str, str],
                     existing: Existing, plan: Plan) -> list[_Rec]:
    """Records with a device and a person; people missing from `visitor` are created."""
    resolved = []
    known = set(people.values())
    for record in records:
        if record.resource_id not in numbers:
            plan.issue("missing_device", record=record.id, number=record.resource_id,
                       email=record.user_email)
            continue
        # Any spelling of a known email is that person; an unknown one is created.
        email = record.user_email.strip().lower()
        if email not in known:
            plan.issue("missing_person", record=record.id, email=email)
            known.add(email)
            _match_person(PersonRow(email=email), existing, plan)
        if record.finished and record.take_date is None:
            plan.issue("finished_without_take", record=record.id, number=record.resource_id,
                       email=email)
            continue
        resolved.append(_Rec(record, email))
    return resolved


def _take_date(record: Record) -> datetime:
    """The take date of a record known to be a take (the callers filter on it)."""
    if record.take_date is None:
        raise ValueError(f"record {record.id} has no take date")
    return record.take_date


def _is_queue_gift(record: Record) -> bool:
    """A take the predecessor made from the first queue entry when the device came back."""
    if record.enqueue_date is not None:  # it cleared this when it turned the entry into a take
        return True
    return (record.return_date is None and record.created_at is not None
            and record.take_date is not None
            and record.take_date - record.created_at > QUEUE_GIFT_GAP)


def _plan_open_loans(records: list[_Rec], existing: Existing, clock: _Clock,
                     plan: Plan) -> dict[int, str]:
    """Current holders (one per device; the latest take wins); returns holder email by number."""
    takes: dict[int, list[_Rec]] = defaultdict(list)
    for rec in records:
        if not rec.record.finished and rec.record.take_date is not None:
            takes[rec.record.resource_id].append(rec)
    holders = {number: email for number, (email, _) in existing.open_loans.items()}
    for number in sorted(takes):
        ordered = sorted(takes[number], key=lambda r: (r.record.take_date, r.record.id))
        current = ordered[-1]
        for earlier, later in pairwise(ordered):
            plan.issue("two_open_takes", number=number, email=earlier.email,
                       taken=earlier.record.take_date, kept=current.email,
                       until=later.record.take_date)
            taken = clock.past(_take_date(earlier.record), earlier.record, "take_date")
            _add_past(LoanRow(number, earlier.email, taken,
                              returned_at=max(taken, clock.utc(_take_date(later.record))),
                              place=_clip(earlier.record.address, PLACE_MAX),
                              record_id=earlier.record.id), existing, plan)
        record = current.record
        taken = clock.past(_take_date(record), record, "take_date")
        loan = LoanRow(number, current.email, taken,
                       due_date=record.return_date.date() if record.return_date else None,
                       place=_clip(record.address, PLACE_MAX),
                       from_queue=_is_queue_gift(record), record_id=record.id)
        if len((record.address or "").strip()) > PLACE_MAX:
            plan.issue("place_cut", number=number, limit=PLACE_MAX)
        ours = existing.open_loans.get(number)
        if ours is not None:
            plan.count("open_loans", new=False)
            if ours[0] != current.email:
                plan.issue("holder_differs", number=number, email=current.email, ours=ours[0])
            continue
        if (number, current.email, taken) in existing.loans:
            plan.count("open_loans", new=False)  # imported before and returned since
            continue
        plan.open_loans.append(loan)
        plan.count("open_loans", new=True)
        holders[number] = current.email
    return holders


def _plan_queue(records: list[_Rec], existing: Existing, holders: dict[int, str],
                clock: _Clock, plan: Plan) -> None:
    """Queue entries in enqueue_date order; the holder's own and repeated entries dropped."""
    waiting: list[tuple[datetime, int, _Rec]] = []
    for rec in records:
        record = rec.record
        if record.finished or record.take_date is not None:
            continue
        moment = record.enqueue_date or record.created_at
        if record.enqueue_date is None:
            plan.issue("no_dates", record=record.id, number=record.resource_id,
                       email=rec.email)
        # Without either date the entry joins now (already UTC: not converted from local time).
        joined = clock.now if moment is None else clock.past(moment, record, "enqueue_date")
        waiting.append((joined, record.id, rec))
    waiting.sort()  # by time, then record id (ids are unique: the rows are never compared)
    seen: set[tuple[int, str]] = set()
    queued: set[int] = {number for number, _ in existing.queue}
    for joined, record_id, rec in waiting:
        number = rec.record.resource_id
        key = (number, rec.email)
        if key in seen:
            plan.issue("queue_duplicate", record=record_id, number=number, email=rec.email)
            continue
        seen.add(key)
        if holders.get(number) == rec.email:
            plan.issue("holder_queued", record=record_id, number=number, email=rec.email)
            continue
        queued.add(number)
        if key in existing.queue:
            plan.count("queue", new=False)
            continue
        plan.queue.append(QueueRow(number, rec.email, joined, record_id))
        plan.count("queue", new=True)
    for number in sorted(queued - set(holders)):
        plan.issue("free_with_queue", number=number)


def _add_past(loan: LoanRow, existing: Existing, plan: Plan) -> None:
    """Plan one closed loan unless devtrack has it already."""
    if plan.history_since is None or loan.taken_at < plan.history_since:
        plan.history_since = loan.taken_at
    key = (loan.number, loan.email, loan.taken_at)
    if key in existing.loans:
        plan.count("past_loans", new=False)
        return
    if key in plan.planned_loans:
        plan.issue("loan_duplicate", record=loan.record_id, number=loan.number,
                   email=loan.email)
        return
    plan.planned_loans.add(key)
    plan.past_loans.append(loan)
    plan.count("past_loans", new=True)


def _plan_past_loans(records: list[_Rec], existing: Existing, clock: _Clock,
                     plan: Plan) -> None:
    """Finished takes as closed loans (take_date .. return_date)."""
    for rec in records:
        record = rec.record
        if not record.finished:
            continue
        taken = clock.past(_take_date(record), record, "take_date")
        end = record.return_date
        if end is None:
            end = record.updated_at or _take_date(record)
            plan.issue("no_return_date", record=record.id, number=record.resource_id,
                       email=rec.email, value=end)
        returned = clock.past(end, record, "return_date")
        if returned < taken:
            plan.issue("returned_before_taken", record=record.id, number=record.resource_id,
                       email=rec.email)
            returned = taken
        _add_past(LoanRow(record.resource_id, rec.email, taken,
                          place=_clip(record.address, PLACE_MAX), returned_at=returned,
                          record_id=record.id), existing, plan)
