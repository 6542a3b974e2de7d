"""What the queue writes and tells: audit rows, error details, boundaries, /wishlist rows."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from conftest import count_queries

from inventory import loans, queue
from inventory.errors import AlreadyHolder, AlreadyQueued, NoHold, NotQueued
from models import AuditLog, QueueEntry

HOURS = 24


def audit_rows(since: int = 0) -> list[tuple]:
    """(action, actor id, device id, person id, details) of audit rows after id `since`."""
    return [(a.action, a.actor_id, a.device_id, a.person_id, json.loads(a.details))
            for a in AuditLog.select().where(AuditLog.id > since).order_by(AuditLog.id)]


def mark() -> int:
    """The newest audit id so far."""
    last = AuditLog.select().order_by(AuditLog.id.desc()).first()
    return last.id if last else 0


@pytest.fixture
def line(backend, seed):
    """Device 7 held by A; B, C, D around (nobody queued yet); a free device 8."""
    device, free = seed.device(7, "Эвотор 7.2"), seed.device(8, "Атол")
    a, b, c, d = (seed.person(i, name=n) for i, n in
                  ((1, "Анна"), (2, "Борис"), (3, "Вера"), (4, "Глеб")))
    seed.loan(device, a)
    return device, free, a, b, c, d


def test_join_and_leave_are_recorded(line, clock):
    device, _, a, b, c, _ = line
    since = mark()
    joined = queue.join(device.id, b, clock.now)
    stored = QueueEntry.get_by_id(joined.entry.id)
    assert (stored.joined_at, stored.created_at, stored.updated_at) == (clock.now,) * 3
    assert (joined.entry.device.id, joined.entry.person.id) == (device.id, b.id)
    queue.join(device.id, c, clock.now)
    queue.leave(device.id, b, clock.now)
    detail = {"device_number": 7, "device_name": "Эвотор 7.2"}
    assert audit_rows(since) == [
        ("queue.joined", b.id, device.id, b.id,
         {"position": 1, **detail, "person_email": b.email}),
        ("queue.joined", c.id, device.id, c.id,
         {"position": 2, **detail, "person_email": c.email}),
        ("queue.left", b.id, device.id, b.id,
         {"had_hold": False, **detail, "person_email": b.email}),
    ]


def test_a_hold_is_offered_declined_and_passed_on_with_records(line, clock):
    device, _, a, b, c, _ = line
    queue.join(device.id, b, clock.now)
    queue.join(device.id, c, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    since = mark()
    offer = queue.start_hold(device.id, clock.now)
    until = clock.now + timedelta(hours=HOURS)
    assert (offer.entry.person_id, offer.entry.hold_until, offer.person.id, offer.device.id,
            offer.until) == (b.id, until, b.id, device.id, until)
    stored = QueueEntry.get_by_id(offer.entry.id)
    assert (stored.hold_until, stored.updated_at) == (until, clock.now)
    clock.advance(hours=1)
    again = queue.decline_hold(device.id, b, clock.now)
    assert again.person.id == c.id
    detail = {"device_number": 7, "device_name": "Эвотор 7.2"}
    assert audit_rows(since) == [
        ("hold.offered", None, device.id, b.id,
         {"until": until.isoformat(), **detail, "person_email": b.email}),
        ("hold.declined", b.id, device.id, b.id, {**detail, "person_email": b.email}),
        ("hold.offered", None, device.id, c.id,
         {"until": (clock.now + timedelta(hours=HOURS)).isoformat(), **detail,
          "person_email": c.email}),
    ]


def test_leaving_a_live_hold_is_recorded_as_such(line, clock):
    device, _, a, b, c, _ = line
    queue.join(device.id, b, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    queue.start_hold(device.id, clock.now)
    since = mark()
    queue.leave(device.id, b, clock.now)
    assert audit_rows(since)[0][:4] == ("queue.left", b.id, device.id, b.id)
    assert audit_rows(since)[0][4]["had_hold"] is True


def test_expiry_is_recorded(line, clock):
    device, _, a, b, c, _ = line
    queue.join(device.id, b, clock.now)
    queue.join(device.id, c, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    offer = queue.start_hold(device.id, clock.now)
    clock.advance(hours=HOURS)
    since = mark()
    lapsed: list[queue.Lapse] = []
    (second,) = queue.expire_holds(clock.now, lapsed=lapsed)
    assert second.person.id == c.id
    assert [(x.person.id, x.device.id, x.until) for x in lapsed] == [(b.id, device.id,
                                                                      offer.until)]
    expired = audit_rows(since)[0]
    assert expired[:4] == ("hold.expired", None, device.id, b.id)
    assert expired[4]["until"] == offer.until.isoformat()
    assert expired[4]["person_email"] == b.email and expired[4]["device_number"] == 7


def test_a_loan_clears_the_hold_with_a_record(line, clock):
    device, _, a, b, c, _ = line
    queue.join(device.id, b, clock.now)
    queue.join(device.id, c, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    offer = queue.start_hold(device.id, clock.now)
    # A loan appeared without the domain (an import of an old version): settling clears it.
    from models import Loan

    Loan.create(device=device, person=a, taken_at=clock.now, created_at=clock.now,
                updated_at=clock.now)
    clock.advance(minutes=1)
    since = mark()
    assert queue.start_hold(device.id, clock.now) is None
    stored = QueueEntry.get_by_id(offer.entry.id)
    assert (stored.hold_until, stored.updated_at) == (None, clock.now)
    assert [r[:4] for r in audit_rows(since)] == [("hold.cleared", None, device.id, b.id)]
    assert audit_rows(since)[0][4]["device_number"] == 7


def test_errors_carry_the_device_and_the_place(line, clock):
    device, free, a, b, c, _ = line
    with pytest.raises(AlreadyHolder) as holder:
        queue.join(device.id, a, clock.now)
    assert holder.value.details["device"].id == device.id
    queue.join(device.id, b, clock.now)
    queue.join(device.id, c, clock.now)
    with pytest.raises(AlreadyQueued) as queued:
        queue.join(device.id, c, clock.now)
    assert (queued.value.details["device"].id, queued.value.details["position"],
            queued.value.details["hold_until"]) == (device.id, 2, None)
    with pytest.raises(NotQueued) as not_queued:
        queue.leave(free.id, b, clock.now)
    assert not_queued.value.details["device"].id == free.id
    with pytest.raises(NoHold) as no_hold:
        queue.decline_hold(device.id, b, clock.now)
    assert no_hold.value.details["device"].id == device.id
    loans.return_device(device.id, a, now=clock.now)
    offer = queue.start_hold(device.id, clock.now)
    with pytest.raises(AlreadyQueued) as holding:
        queue.join(device.id, b, clock.now)
    assert (holding.value.details["position"], holding.value.details["hold_until"]) == (
        None, offer.until)


def test_a_hold_ends_exactly_at_its_time(line, clock):
    device, _, a, b, c, _ = line
    queue.join(device.id, b, clock.now)
    queue.join(device.id, c, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    offer = queue.start_hold(device.id, clock.now)
    end = offer.until
    entry = QueueEntry.get_by_id(offer.entry.id)
    assert queue.is_live(entry, end - timedelta(seconds=1))
    assert not queue.is_live(entry, end)
    # At the end b waits in line again (first, by joining), and may no longer decline.
    assert queue.position(device.id, b.id, end) == 1
    assert queue.position(device.id, c.id, end) == 2
    assert queue.position(device.id, c.id, end - timedelta(seconds=1)) == 1
    assert queue.queue_of(device.id, end).hold is None
    with pytest.raises(NoHold):
        queue.decline_hold(device.id, b, end)
    page = queue.wishlist(c, 1, end)
    assert page.rows[0].hold is None
    assert queue.wishlist(c, 1, end - timedelta(seconds=1)).rows[0].hold.person.id == b.id


def test_ties_in_joining_time_go_by_arrival(line, clock):
    device, _, a, b, c, d = line
    for person in (d, b, c):  # the same clock reading for all three
        queue.join(device.id, person, clock.now)
    assert [e.person_id for e in queue.queue_of(device.id, clock.now).entries] == [d.id, b.id,
                                                                                   c.id]
    assert [queue.position(device.id, p.id, clock.now) for p in (d, b, c)] == [1, 2, 3]
    loans.return_device(device.id, a, now=clock.now)
    assert queue.start_hold(device.id, clock.now).person.id == d.id
    assert [r.position for r in queue.wishlist(c, 1, clock.now).rows] == [2]


def test_queue_lines_bring_their_people_in_one_query(line, clock):
    device, _, _, b, c, _ = line
    queue.join(device.id, b, clock.now)
    queue.join(device.id, c, clock.now)
    names, queries = count_queries(
        lambda: [e.person.name for e in queue.queue_of(device.id, clock.now).entries])
    assert names == ["Борис", "Вера"]
    assert queries == 1


def test_wishlist_rows_show_holder_hold_and_place(backend, seed, clock):
    me, holder, first = seed.person(1, name="Я"), seed.person(2, name="Держит"), seed.person(
        3, name="Первая")
    held = seed.device(30, "Занят")
    free_held = seed.device(10, "Придержан")
    seed.loan(held, holder)
    seed.loan(free_held, holder)
    queue.join(free_held.id, first, clock.now)
    queue.join(held.id, me, clock.now)
    queue.join(free_held.id, me, clock.now)
    loans.return_device(free_held.id, holder, now=clock.now)
    offer = queue.start_hold(free_held.id, clock.now)
    page = queue.wishlist(me, 1, clock.now)
    assert [r.device.number for r in page.rows] == [10, 30]
    on_hold, busy = page.rows
    assert on_hold.loan is None
    assert (on_hold.hold.person.name, on_hold.hold.hold_until) == ("Первая", offer.until)
    assert on_hold.position == 1 and on_hold.entry.person_id == me.id
    assert busy.loan.person.name == "Держит" and busy.hold is None
    assert busy.position == 1
    assert (page.total, page.pages, page.page) == (2, 1, 1)


def test_expiry_goes_on_past_a_device_deleted_meanwhile(line, clock, monkeypatch):
    device, free, a, b, c, _ = line
    queue.join(device.id, b, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    real = queue._unsettled_devices
    monkeypatch.setattr(queue, "_unsettled_devices",
                        lambda now, device_id: [free.id + 100, *real(now, device_id)])
    offers = queue.expire_holds(clock.now)
    assert [(o.device.id, o.person.id) for o in offers] == [(device.id, b.id)]


def waiting_entry(device, person, joined, hold_until=None) -> QueueEntry:
    """A queue row written directly (as a restored dump may hold them)."""
    return QueueEntry.create(device=device, person=person, joined_at=joined,
                             hold_until=hold_until, created_at=joined, updated_at=joined)


def test_the_line_goes_by_joining_time_not_by_row_id(line, clock):
    device, free, a, b, c, d = line
    # Rows restored from a dump: c's row came first but b joined first.
    waiting_entry(free, c, clock.now - timedelta(hours=1))
    waiting_entry(free, b, clock.now - timedelta(hours=2))
    assert [e.person_id for e in queue.queue_of(free.id, clock.now).entries] == [b.id, c.id]
    assert queue.start_hold(free.id, clock.now).person.id == b.id


def test_expiry_finds_free_devices_among_held_and_kept_ones(line, clock, seed):
    device, free, a, b, c, d = line
    kept = seed.device(9, "Придержан")
    waiting_entry(device, c, clock.now)  # held by a: nothing to do
    waiting_entry(kept, d, clock.now, hold_until=clock.now + timedelta(hours=1))  # a live hold
    waiting_entry(kept, c, clock.now)
    waiting_entry(free, b, clock.now)  # free, nobody holds it for anyone: b gets it
    offers = queue.expire_holds(clock.now)
    assert [(o.device.id, o.person.id) for o in offers] == [(free.id, b.id)]


def test_a_lone_hold_lapses_exactly_at_its_end(line, clock):
    _, free, _, b, _, _ = line
    until = clock.now
    waiting_entry(free, b, clock.now - timedelta(hours=HOURS), hold_until=until)
    lapsed: list[queue.Lapse] = []
    assert queue.expire_holds(clock.now, lapsed=lapsed) == []
    assert [(x.person.id, x.until) for x in lapsed] == [(b.id, until)]
    assert QueueEntry.select().count() == 0


def test_a_run_out_hold_not_yet_settled_still_counts_as_waiting_ahead(line, clock):
    _, free, _, b, c, _ = line
    waiting_entry(free, b, clock.now - timedelta(hours=2), hold_until=clock.now - timedelta(
        hours=1))
    waiting_entry(free, c, clock.now - timedelta(hours=1))
    assert queue.position(free.id, c.id, clock.now) == 2
    assert queue.wishlist(c, 1, clock.now).rows[0].position == 2
    with pytest.raises(AlreadyQueued) as queued:
        queue.join(free.id, b, clock.now)
    assert (queued.value.details["position"], queued.value.details["hold_until"]) == (1, None)


def test_wishlist_takes_three_queries_whatever_it_shows(line, clock, seed):
    device, free, a, b, c, d = line
    for number in range(20, 26):
        extra = seed.device(number)
        waiting_entry(extra, d, clock.now, hold_until=clock.now + timedelta(hours=1))
        waiting_entry(extra, b, clock.now)
    waiting_entry(device, b, clock.now)

    def shown() -> list[tuple]:
        return [(r.device.name, r.hold.person.name if r.hold else None,
                 r.loan.person.name if r.loan else None)
                for r in queue.wishlist(b, 1, clock.now).rows]

    names, queries = count_queries(shown)
    assert queries == 3
    assert names[0] == ("Эвотор 7.2", None, "Анна")
    assert names[1:] == [("Эвотор 7.2", "Глеб", None)] * 6
