"""The wishlist queue and holds: join, leave, positions, the hold for the next in line, expiry.

Positions are never stored: they are the rank of an entry among the device's waiting entries by
(joined_at, id). An entry whose hold_until lies in the future is the *hold*: the freed device is
kept for that person and nobody else may take it. Holds exist only on devices nobody holds.

Every change of one device's queue runs inside `db.atomic()` after `lock_device` (a no-op UPDATE of
the device row), so joins, leaves, offers, declines and expiry of the same device happen one
after another on both databases, and conditional UPDATE/DELETE row counts catch the rest.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee as pw

from inventory import audit
from inventory.devices import PAGE_SIZE, DeviceRow, Page
from inventory.errors import (
    AlreadyHolder,
    AlreadyQueued,
    DeviceFree,
    NoHold,
    NotFound,
    NotQueued,
)
from inventory.locks import lock_device, lock_person
from inventory.prepared import Prepared
from models import Device, Loan, Person, QueueEntry, db

logger = logging.getLogger(__name__)

HOLD_HOURS_DEFAULT = 24  # the documented HOLD_HOURS default; callers pass config.hold_hours


@dataclass(frozen=True)
class Offer:
    """A hold just given to the first person in line: who must be told, about what, until when."""

    entry: QueueEntry
    person: Person
    device: Device
    until: datetime


@dataclass(frozen=True)
class Lapse:
    """A hold that ran out: whom to tell that the device is no longer kept for them."""

    person: Person
    device: Device
    until: datetime


@dataclass(frozen=True)
class Joined:
    """A new queue entry and its position."""

    entry: QueueEntry
    position: int


def is_live(entry: QueueEntry, now: datetime) -> bool:
    """Whether the entry is a hold that has not run out."""
    return entry.hold_until is not None and entry.hold_until > now


def hold_end(entry: QueueEntry) -> datetime:
    """When the entry's hold runs out (only asked of an entry that holds the device)."""
    if entry.hold_until is None:
        raise ValueError(f"queue entry {entry.id} holds nothing")
    return entry.hold_until


def waiting_condition(model: type[QueueEntry] | pw.ModelAlias[QueueEntry],
                      now: datetime) -> pw.Expression:
    """SQL: the entry waits in line (it is not a live hold)."""
    return model.hold_until.is_null() | (model.hold_until <= now)


@dataclass
class DeviceQueue:
    """A device's queue in order, people joined: what a card shows."""

    entries: list[QueueEntry]
    now: datetime

    @property
    def hold(self) -> QueueEntry | None:
        """The live hold, if the device is held for someone."""
        return next((e for e in self.entries if is_live(e, self.now)), None)

    @property
    def waiting(self) -> list[QueueEntry]:
        """Entries waiting in line, first first (the live hold excluded)."""
        return [e for e in self.entries if not is_live(e, self.now)]

    def entry_of(self, person_id: int) -> QueueEntry | None:
        """The person's entry, if they are in the queue."""
        return next((e for e in self.entries if e.person_id == person_id), None)

    def position_of(self, person_id: int) -> int | None:
        """1-based place of the person among those waiting (None: not waiting)."""
        for index, entry in enumerate(self.waiting, start=1):
            if entry.person_id == person_id:
                return index
        return None


# On every card and every take: compiled once (inventory/prepared.py).
_LINE = Prepared(lambda device_id: QueueEntry.select(QueueEntry, Person).join(Person)
                 .where(QueueEntry.device == device_id)
                 .order_by(QueueEntry.joined_at, QueueEntry.id))


# After every return: compiled once, like the line.
_ANYONE_WAITING = Prepared(lambda device_id: QueueEntry.select(QueueEntry.id)
                           .where(QueueEntry.device == device_id).limit(1))


def queue_of(device_id: int, now: datetime) -> DeviceQueue:
    """The device's queue with people, in order (one query, whatever its length)."""
    return DeviceQueue(_LINE.rows(device_id), now)


def _ahead_of(entry_model: type[QueueEntry] | pw.ModelAlias[QueueEntry],
              ahead: pw.ModelAlias[QueueEntry],
              now: datetime) -> pw.Expression:
    """SQL: `ahead` is a waiting entry of the same device that ranks before `entry_model`."""
    return (
        (ahead.device == entry_model.device)
        & waiting_condition(ahead, now)
        & ((ahead.joined_at < entry_model.joined_at)
           | ((ahead.joined_at == entry_model.joined_at) & (ahead.id < entry_model.id)))
    )


def position(device_id: int, person_id: int, now: datetime) -> int | None:
    """The person's place in the device's line (None: not waiting, or holding the hold)."""
    entry = QueueEntry.get_or_none((QueueEntry.device == device_id)
                                   & (QueueEntry.person == person_id))
    if entry is None or is_live(entry, now):
        return None
    ahead = QueueEntry.alias()
    count = (ahead.select().where(
        (ahead.device == device_id)
        & waiting_condition(ahead, now)
        & ((ahead.joined_at < entry.joined_at)
           | ((ahead.joined_at == entry.joined_at) & (ahead.id < entry.id)))
    ).count())
    return count + 1


# --- changes ---------------------------------------------------------------------------------


def join(device_id: int, person: Person, now: datetime) -> Joined:
    """Put the person at the end of the device's line; refuse when it makes no sense."""
    with db.atomic():
        device = lock_device(device_id)
        lock_person(person.id)  # a deletion of the person holds it: no entry for the deleted
        loan = Loan.get_or_none((Loan.device == device_id) & Loan.returned_at.is_null())
        if loan is not None and loan.person_id == person.id:
            raise AlreadyHolder(device=device)
        entries = list(QueueEntry.select().where(QueueEntry.device == device_id))
        mine = next((e for e in entries if e.person_id == person.id), None)
        if mine is not None:
            raise AlreadyQueued(device=device, position=position(device_id, person.id, now),
                                hold_until=mine.hold_until if is_live(mine, now) else None)
        if loan is None and not entries:
            raise DeviceFree(device=device)
        # Under the lock this entry is the newest: never rank it before an earlier joiner whose
        # clock read later, or two people would be told the same place.
        joined_at = max([now, *(e.joined_at for e in entries)])
        entry = QueueEntry.create(device=device, person=person, joined_at=joined_at,
                                  created_at=now, updated_at=now)
        place = sum(1 for e in entries if not is_live(e, now)) + 1
        audit.record("queue.joined", actor=person, device=device, person=person, now=now,
                     position=place)
    entry.device, entry.person = device, person
    return Joined(entry, place)


def leave(device_id: int, person: Person, now: datetime,
          hold_hours: int = HOLD_HOURS_DEFAULT) -> Offer | None:
    """Leave the line; a hold the person had passes to the next in line (returned to notify)."""
    with db.atomic():
        device = lock_device(device_id)
        entry = QueueEntry.get_or_none((QueueEntry.device == device_id)
                                       & (QueueEntry.person == person))
        if entry is None:
            raise NotQueued(device=device)
        entry.delete_instance()
        audit.record("queue.left", actor=person, device=device, person=person, now=now,
                     had_hold=is_live(entry, now))
        return _settle(device, now, hold_hours)


def start_hold(device_id: int, now: datetime,
               hold_hours: int = HOLD_HOURS_DEFAULT) -> Offer | None:
    """After a return: hold the device for the first in line (None: nobody waits, or held)."""
    # Returns lock the device like joins do, so an empty queue here stays empty: skip the write.
    if not _ANYONE_WAITING.rows(device_id):
        return None
    with db.atomic():
        return _settle(lock_device(device_id), now, hold_hours)


def decline_hold(device_id: int, person: Person, now: datetime,
                 hold_hours: int = HOLD_HOURS_DEFAULT) -> Offer | None:
    """«Отказаться»: give up the hold (and the place in line); the next in line gets it."""
    with db.atomic():
        device = lock_device(device_id)
        dropped = QueueEntry.delete().where(
            (QueueEntry.device == device_id) & (QueueEntry.person == person)
            & (QueueEntry.hold_until > now)
        ).execute()
        if not dropped:
            raise NoHold(device=device)
        audit.record("hold.declined", actor=person, device=device, person=person, now=now)
        return _settle(device, now, hold_hours)


def expire_holds(now: datetime, hold_hours: int = HOLD_HOURS_DEFAULT, *,
                 device_id: int | None = None,
                 lapsed: list[Lapse] | None = None) -> list[Offer]:
    """Pass run-out holds on and hold free devices for their first in line; returns whom to tell.

    Idempotent and safe to run from several processes at once: a second run (or a concurrent
    one) finds nothing left to do, and each hold is offered exactly once. The holds that ran
    out are appended to `lapsed` when given (each exactly once, like the offers).
    """
    offers = []
    for candidate in _unsettled_devices(now, device_id):
        with db.atomic():
            try:
                device = lock_device(candidate)
            except NotFound:  # deleted meanwhile: its queue went with it
                continue
            offer = _settle(device, now, hold_hours, lapsed)
        if offer is not None:
            offers.append(offer)
    return offers


def _unsettled_devices(now: datetime, device_id: int | None) -> list[int]:
    """Devices with a run-out hold, or free with people waiting and no live hold (one query)."""
    # Runs before every read: compiled once (inventory/prepared.py).
    rows = _UNSETTLED.rows(now, device_id)  # a None compiles to the query without the filter
    return sorted({row.device_id for row in rows})


def holds_due(now: datetime) -> pw.Function:
    """Whether any device has a run-out hold or a line and no live hold: an SQL EXISTS to put
    into another query (the update's first statement asks it for the screens that follow)."""
    return pw.fn.EXISTS(_unsettled_query(now))


def _unsettled_query(now: datetime, device_id: int | None = None) -> pw.ModelSelect[QueueEntry]:
    """The query behind _unsettled_devices."""
    open_loan = Loan.select().where(
        (Loan.device == QueueEntry.device) & Loan.returned_at.is_null())
    live = QueueEntry.alias()
    live_hold = live.select().where((live.device == QueueEntry.device) & (live.hold_until > now))
    condition = (QueueEntry.hold_until <= now) | (
        QueueEntry.hold_until.is_null() & ~pw.fn.EXISTS(open_loan) & ~pw.fn.EXISTS(live_hold))
    if device_id is not None:
        condition &= QueueEntry.device == device_id
    return QueueEntry.select(QueueEntry.device).where(condition).distinct()


_UNSETTLED = Prepared(_unsettled_query)


def _clear_holds(device: Device, entries: list[QueueEntry], now: datetime) -> None:
    """The entries holding the device wait in line again (it is held by someone now)."""
    stale = [e.id for e in entries if e.hold_until is not None]
    if not stale:
        return
    QueueEntry.update(hold_until=None, updated_at=now).where(QueueEntry.id.in_(stale)).execute()
    for entry in entries:
        if entry.id in stale:
            audit.record("hold.cleared", actor=None, device=device, person=entry.person, now=now)


def _drop_lapsed(device: Device, entries: list[QueueEntry], now: datetime,
                 lapsed: list[Lapse] | None) -> None:
    """Remove the entries whose hold ran out (each once, even when two runs race)."""
    for entry in entries:
        if entry.hold_until is None:
            continue
        gone = QueueEntry.delete().where(
            (QueueEntry.id == entry.id) & (QueueEntry.hold_until == entry.hold_until)
        ).execute()
        if gone:
            audit.record("hold.expired", actor=None, device=device, person=entry.person,
                         now=now, until=entry.hold_until)
            if lapsed is not None:
                lapsed.append(Lapse(entry.person, device, entry.hold_until))


def _settle(device: Device, now: datetime, hold_hours: int,
            lapsed: list[Lapse] | None = None) -> Offer | None:
    """Bring one locked device's holds in order; the new hold to announce, if one was given."""
    entries = list(
        QueueEntry.select(QueueEntry, Person)
        .join(Person)
        .where(QueueEntry.device == device.id)
        .order_by(QueueEntry.joined_at, QueueEntry.id)
    )
    if not entries:
        return None
    if Loan.select().where((Loan.device == device.id) & Loan.returned_at.is_null()).exists():
        # Someone holds the device: nothing can be held for the queue (an admin assigned it).
        _clear_holds(device, entries, now)
        return None
    if any(is_live(e, now) for e in entries):
        return None
    _drop_lapsed(device, entries, now, lapsed)
    waiting = [e for e in entries if e.hold_until is None and e.person.deleted_at is None]
    if not waiting:
        return None
    first = waiting[0]
    until = now + timedelta(hours=hold_hours)
    given = QueueEntry.update(hold_until=until, updated_at=now).where(
        (QueueEntry.id == first.id) & QueueEntry.hold_until.is_null()
    ).execute()
    if not given:
        return None
    audit.record("hold.offered", actor=None, device=device, person=first.person, now=now,
                 until=until)
    first.hold_until, first.device = until, device
    return Offer(first, first.person, device, until)


# --- /wishlist -------------------------------------------------------------------------------


@dataclass
class WishRow(DeviceRow):
    """A device the person waits for: its state, their entry and place in line."""

    entry: QueueEntry | None = None
    position: int | None = None


def wishlist(person: Person, page: int, now: datetime) -> Page:
    """A page of the devices the person waits for (count + page + holds: three queries)."""
    total = QueueEntry.select().where(QueueEntry.person == person).count()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    ahead = QueueEntry.alias()
    ahead_count = ahead.select(pw.fn.COUNT(ahead.id)).where(_ahead_of(QueueEntry, ahead, now))
    query = (
        QueueEntry.select(QueueEntry, Device, Loan, Person, ahead_count.alias("ahead"))
        .join(Device)
        .switch()
        .join(Loan, pw.JOIN.LEFT_OUTER,
              on=(Loan.device == QueueEntry.device) & Loan.returned_at.is_null())
        .join(Person, pw.JOIN.LEFT_OUTER, attr="holder")  # Loan.person, named like the model
        .where(QueueEntry.person == person)
        .order_by(Device.number)
        .paginate(page, PAGE_SIZE)
    )
    rows = []
    for entry in query:
        loan = entry.loan  # type: ignore[attr-defined]  # the outer join: None, device free
        if loan is not None:
            loan.person = loan.holder
        place = None if is_live(entry, now) else entry.ahead + 1
        rows.append(WishRow(entry.device, loan, entry=entry, position=place))
    device_ids = [r.device.id for r in rows if r.loan is None]
    if device_ids:
        holds = (QueueEntry.select(QueueEntry, Person).join(Person)
                 .where(QueueEntry.device.in_(device_ids) & (QueueEntry.hold_until > now)))
        by_device = {h.device_id: h for h in holds}
        for row in rows:
            row.hold = by_device.get(row.device.id)
    return Page(rows, page, pages, total)
