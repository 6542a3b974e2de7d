"""Queue, holds and handover in the domain layer, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from conftest import T0

from inventory import handover, loans, queue
from inventory.errors import (
    AlreadyHolder,
    AlreadyQueued,
    AlreadyTaken,
    DeviceFree,
    HandoverGone,
    HandoverPending,
    HeldForQueue,
    NoHold,
    NotFound,
    NotHolder,
    NotQueued,
    SelfHandover,
)
from models import AuditLog, Handover, Loan, QueueEntry

HOURS = 24


def live_hold(device_id: int, now):
    """The device's queue entry holding it at `now`, if any, read straight from the table."""
    return QueueEntry.get_or_none((QueueEntry.device == device_id) & (QueueEntry.hold_until > now))


@pytest.fixture
def crowd(backend, seed):
    """A device held by A, and B, C, D who may queue for it."""
    device = seed.device(7, "Эвотор 7.2")
    a, b, c, d = (seed.person(i, name=n) for i, n in
                  ((1, "Анна"), (2, "Борис"), (3, "Вера"), (4, "Глеб")))
    seed.loan(device, a, due=date(2026, 12, 10), place="склад")
    return device, a, b, c, d


def actions() -> list[str]:
    """Audit actions in order."""
    return [a.action for a in AuditLog.select().order_by(AuditLog.id)]


# --- joining and leaving ---------------------------------------------------------------------


def test_positions_follow_the_order_of_joining(crowd, clock):
    device, _, b, c, d = crowd
    assert queue.join(device.id, b, clock.now).position == 1
    clock.advance(minutes=1)
    assert queue.join(device.id, c, clock.now).position == 2
    assert queue.join(device.id, d, clock.now).position == 3
    assert [queue.position(device.id, p.id, clock.now) for p in (b, c, d)] == [1, 2, 3]
    queue.leave(device.id, c, clock.now)
    assert [queue.position(device.id, p.id, clock.now) for p in (b, c, d)] == [1, None, 2]
    assert actions()[-4:] == ["queue.joined"] * 3 + ["queue.left"]


def test_a_late_clock_never_ranks_before_an_earlier_joiner(crowd, clock):
    device, _, b, c, _ = crowd
    queue.join(device.id, b, clock.now)
    # C's update read the clock before B's, but joined after B: C is still second.
    joined = queue.join(device.id, c, clock.now - timedelta(seconds=5))
    assert joined.position == 2 == queue.position(device.id, c.id, clock.now)


def test_join_refusals(crowd, seed, clock):
    device, a, b, _, _ = crowd
    with pytest.raises(AlreadyHolder):
        queue.join(device.id, a, clock.now)
    queue.join(device.id, b, clock.now)
    with pytest.raises(AlreadyQueued) as err:
        queue.join(device.id, b, clock.now)
    assert err.value.details["position"] == 1
    free = seed.device(8)
    with pytest.raises(DeviceFree):
        queue.join(free.id, b, clock.now)
    with pytest.raises(NotFound):
        queue.join(999999, b, clock.now)
    with pytest.raises(NotQueued):
        queue.leave(free.id, b, clock.now)
    assert QueueEntry.select().count() == 1


def test_a_device_held_for_someone_can_be_queued_for(crowd, clock):
    device, a, b, c, _ = crowd
    queue.join(device.id, b, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    queue.start_hold(device.id, clock.now, HOURS)
    assert queue.join(device.id, c, clock.now).position == 1
    with pytest.raises(AlreadyQueued) as err:
        queue.join(device.id, b, clock.now)
    assert err.value.details["hold_until"] == T0 + timedelta(hours=HOURS)


# --- holds -----------------------------------------------------------------------------------


def test_return_holds_the_device_for_the_first_in_line(crowd, clock):
    device, a, b, c, _ = crowd
    queue.join(device.id, b, clock.now)
    queue.join(device.id, c, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    offer = queue.start_hold(device.id, clock.now, HOURS)
    assert (offer.person.id, offer.device.id, offer.until) == (b.id, device.id,
                                                              T0 + timedelta(hours=HOURS))
    assert live_hold(device.id, clock.now).person_id == b.id
    assert queue.start_hold(device.id, clock.now, HOURS) is None  # nothing twice
    assert queue.position(device.id, c.id, clock.now) == 1
    with pytest.raises(HeldForQueue):
        loans.take(device.id, c, now=clock.now)
    loan = loans.take(device.id, b, now=clock.now)
    assert loan.person.id == b.id
    assert not QueueEntry.select().where(QueueEntry.person == b).exists()
    assert "hold.offered" in actions()


def test_no_hold_when_nobody_waits(crowd, clock):
    device, a, _, _, _ = crowd
    loans.return_device(device.id, a, now=clock.now)
    assert queue.start_hold(device.id, clock.now, HOURS) is None
    assert queue.expire_holds(clock.now, HOURS) == []


def test_decline_passes_the_hold_on(crowd, clock):
    device, a, b, c, _ = crowd
    queue.join(device.id, b, clock.now)
    queue.join(device.id, c, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    queue.start_hold(device.id, clock.now, HOURS)
    with pytest.raises(NoHold):
        queue.decline_hold(device.id, c, clock.now, HOURS)
    clock.advance(hours=1)
    offer = queue.decline_hold(device.id, b, clock.now, HOURS)
    assert offer.person.id == c.id and offer.until == clock.now + timedelta(hours=HOURS)
    assert queue.decline_hold(device.id, c, clock.now, HOURS) is None  # nobody left
    assert QueueEntry.select().count() == 0
    assert live_hold(device.id, clock.now) is None
    assert actions()[-4:] == ["hold.offered", "hold.declined", "hold.offered", "hold.declined"]


def test_leaving_with_the_hold_passes_it_on(crowd, clock):
    device, a, b, c, _ = crowd
    queue.join(device.id, b, clock.now)
    queue.join(device.id, c, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    queue.start_hold(device.id, clock.now, HOURS)
    assert queue.leave(device.id, b, clock.now, HOURS).person.id == c.id


def test_expiry_passes_the_hold_on_until_the_queue_is_empty(crowd, clock):
    device, a, b, c, _ = crowd
    queue.join(device.id, b, clock.now)
    queue.join(device.id, c, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    queue.start_hold(device.id, clock.now, HOURS)
    clock.advance(hours=HOURS - 1)
    assert queue.expire_holds(clock.now, HOURS) == []  # not yet
    clock.advance(hours=2)
    offers = queue.expire_holds(clock.now, HOURS)
    assert [(o.person.id, o.until) for o in offers] == [(c.id, clock.now + timedelta(hours=HOURS))]
    assert queue.expire_holds(clock.now, HOURS) == []  # idempotent
    clock.advance(hours=HOURS + 1)
    assert queue.expire_holds(clock.now, HOURS, device_id=device.id) == []
    assert QueueEntry.select().count() == 0  # nobody left: the device is simply free
    loans.take(device.id, a, now=clock.now)
    assert actions().count("hold.expired") == 2


def test_expiry_heals_a_free_device_whose_queue_was_never_offered(crowd, clock):
    device, a, b, _, _ = crowd
    queue.join(device.id, b, clock.now)
    loans.return_device(device.id, a, now=clock.now)  # the after-return hook never ran
    assert [o.person.id for o in queue.expire_holds(clock.now, HOURS)] == [b.id]


def test_admin_assignment_puts_the_hold_back_in_line(crowd, seed, clock):
    device, a, b, c, d = crowd
    queue.join(device.id, b, clock.now)
    queue.join(device.id, c, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    queue.start_hold(device.id, clock.now, HOURS)
    loans.take(device.id, d, now=clock.now, assigned_by=a)
    assert live_hold(device.id, clock.now) is None
    assert queue.position(device.id, b.id, clock.now) == 1  # first again for the next return
    cleared = AuditLog.get(AuditLog.action == "hold.cleared")
    assert (cleared.person_id, cleared.actor_id) == (b.id, a.id)


def test_take_of_an_expired_hold_is_refused_once_it_passed_on(crowd, clock):
    device, a, b, c, _ = crowd
    queue.join(device.id, b, clock.now)
    queue.join(device.id, c, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    queue.start_hold(device.id, clock.now, HOURS)
    clock.advance(hours=HOURS + 1)
    queue.expire_holds(clock.now, HOURS, device_id=device.id)
    with pytest.raises(HeldForQueue):
        loans.take(device.id, b, now=clock.now)


def test_wishlist_shows_position_holder_and_hold(crowd, seed, clock):
    device, a, b, c, _ = crowd
    other = seed.device(9, "Атол")
    seed.loan(other, c)
    queue.join(device.id, c, clock.now)
    queue.join(device.id, b, clock.now)
    queue.join(other.id, b, clock.now)
    page = queue.wishlist(b, 1, clock.now)
    assert page.total == 2
    assert [(r.device.number, r.position, r.holder.id, r.loan.due_date) for r in page.rows] == [
        (7, 2, a.id, date(2026, 12, 10)), (9, 1, c.id, None)]
    loans.return_device(device.id, a, now=clock.now)
    queue.start_hold(device.id, clock.now, HOURS)  # for C
    row = queue.wishlist(b, 1, clock.now).rows[0]
    assert (row.position, row.loan, row.hold.person.id) == (1, None, c.id)
    held = queue.wishlist(c, 1, clock.now).rows[0]
    assert held.position is None and queue.is_live(held.entry, clock.now)


def test_wishlist_pages(backend, seed, clock):
    holder, waiter = seed.person(1), seed.person(2)
    for number in range(1, 12):
        device = seed.device(number)
        seed.loan(device, holder)
        queue.join(device.id, waiter, clock.now)
    page = queue.wishlist(waiter, 2, clock.now)
    assert (page.page, page.pages, page.total, len(page.rows)) == (2, 2, 11, 3)
    assert queue.wishlist(waiter, 9, clock.now).page == 2


# --- handover --------------------------------------------------------------------------------


def test_handover_accept_moves_the_loan_keeping_due_date_and_place(crowd, clock):
    device, a, b, _, _ = crowd
    queue.join(device.id, b, clock.now)
    offer = handover.offer(device.id, a, b, clock.now)
    with pytest.raises(HandoverPending):
        handover.offer(device.id, a, b, clock.now)
    clock.advance(hours=1)
    done = handover.accept(offer.id, b, clock.now)
    old, new = Loan.get_by_id(done.old_loan.id), Loan.get_by_id(done.new_loan.id)
    assert old.returned_at == clock.now and new.returned_at is None
    assert (new.person_id, new.due_date, new.place) == (b.id, date(2026, 12, 10), "склад")
    assert not QueueEntry.select().exists()  # B no longer waits for what B holds
    assert Handover.get_by_id(offer.id).status == handover.ACCEPTED
    with pytest.raises(HandoverGone):
        handover.accept(offer.id, b, clock.now)  # a second press changes nothing
    assert Loan.select().where(Loan.returned_at.is_null()).count() == 1
    entry = AuditLog.get(AuditLog.action == "handover.accepted")
    assert json.loads(entry.details)["from_email"] == a.email


def test_handover_decline_and_cancel(crowd, clock):
    device, a, b, c, _ = crowd
    offer = handover.offer(device.id, a, b, clock.now)
    with pytest.raises(HandoverGone):
        handover.decline(offer.id, c, clock.now)  # not addressed to C
    with pytest.raises(HandoverGone):
        handover.cancel(offer.id, b, clock.now)  # only the holder cancels
    handover.decline(offer.id, b, clock.now)
    assert loans.open_loan(device.id).person_id == a.id
    second = handover.offer(device.id, a, c, clock.now)
    handover.cancel(second.id, a, clock.now)
    with pytest.raises(HandoverGone):
        handover.accept(second.id, c, clock.now)
    assert loans.open_loan(device.id).person_id == a.id
    assert [x for x in actions() if x.startswith("handover.")] == [
        "handover.offered", "handover.declined", "handover.offered", "handover.cancelled"]


def test_handover_refusals(crowd, clock):
    device, a, b, c, _ = crowd
    with pytest.raises(SelfHandover):
        handover.offer(device.id, a, a, clock.now)
    with pytest.raises(NotHolder):
        handover.offer(device.id, b, c, clock.now)


def test_handover_of_a_returned_device_is_void(crowd, clock):
    device, a, b, c, _ = crowd
    offer = handover.offer(device.id, a, b, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    with pytest.raises(HandoverGone):
        handover.accept(offer.id, b, clock.now)
    assert Handover.get_by_id(offer.id).status == handover.VOID
    assert loans.open_loan(device.id) is None
    loans.take(device.id, c, now=clock.now)
    with pytest.raises(AlreadyTaken):
        loans.take(device.id, b, now=clock.now)


def test_an_offer_left_by_a_former_holder_does_not_block_the_new_one(crowd, clock):
    device, a, b, c, _ = crowd
    old = handover.offer(device.id, a, b, clock.now)
    loans.return_device(device.id, a, now=clock.now)  # without the after-return hooks
    loans.take(device.id, c, now=clock.now)
    new = handover.offer(device.id, c, b, clock.now)
    assert Handover.get_by_id(old.id).status == handover.VOID
    with pytest.raises(HandoverGone):
        handover.accept(old.id, b, clock.now)
    assert handover.accept(new.id, b, clock.now).new_loan.person.id == b.id


def test_void_pending_after_return(crowd, clock):
    device, a, b, _, _ = crowd
    handover.offer(device.id, a, b, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    voided = handover.void_pending(device.id, clock.now)
    assert [v.to_person.id for v in voided] == [b.id]
    assert handover.void_pending(device.id, clock.now) == []


def test_find_colleagues(backend, seed):
    olga = seed.person(10, "olga.smirnova@company.ru", name="Ольга Смирнова", username="Olga_S")
    seed.person(11, "oleg@company.ru", name="Олег Ёлкин")
    seed.person(None, "import.only@company.ru", name="Ольга Импорт")  # never registered
    assert handover.find_colleagues("@olga_s") == [olga]
    assert handover.find_colleagues("Olga.Smirnova@Company.ru") == [olga]
    assert handover.find_colleagues("ольга") == [olga]
    assert [p.email for p in handover.find_colleagues("ОЛ")] == [
        "oleg@company.ru", "olga.smirnova@company.ru"]
    assert [p.email for p in handover.find_colleagues("елкин")] == ["oleg@company.ru"]
    assert handover.find_colleagues("smirnova") == [olga]
    assert handover.find_colleagues("никто") == []
    assert handover.find_colleagues("@") == []


def test_waiting_for_a_held_device_leaves_nothing_to_settle(crowd, clock, seed):
    # Only a run-out hold, or a free device with people waiting and no live hold, needs
    # settling: a line behind a holder is in order, and settling it would lock the device.
    device, a, b, c, _ = crowd
    queue.join(device.id, b, clock.now)
    free = seed.device(8, "Атол")
    live = seed.device(9, "Штрих")
    QueueEntry.create(device=live, person=c, joined_at=clock.now, created_at=clock.now,
                      updated_at=clock.now, hold_until=clock.now + timedelta(hours=1))
    QueueEntry.create(device=live, person=b, joined_at=clock.now, created_at=clock.now,
                      updated_at=clock.now)
    assert queue._unsettled_devices(clock.now, None) == []
    QueueEntry.create(device=free, person=c, joined_at=clock.now, created_at=clock.now,
                      updated_at=clock.now)
    assert queue._unsettled_devices(clock.now, None) == [free.id]
