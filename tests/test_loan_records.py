"""What loans write besides the loan: audit rows, timestamps, error details, returned objects."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from conftest import count_queries

from inventory import loans
from inventory.errors import AlreadyReturned, HeldForQueue, NotFound, NotHolder, Unsettled
from models import AuditLog, Loan, QueueEntry


def last_audit() -> tuple[str, int | None, int | None, int | None, dict]:
    """(action, actor id, device id, person id, details) of the newest audit row."""
    row = AuditLog.select().order_by(AuditLog.id.desc()).first()
    return row.action, row.actor_id, row.device_id, row.person_id, json.loads(row.details)


@pytest.fixture
def held(backend, seed):
    """Two devices; the first held by a person, with a colleague and an admin around."""
    device, spare = seed.device(7, "Эвотор 7.2"), seed.device(8, "Атол")
    person, colleague, admin = seed.person(1), seed.person(2), seed.person(3, name="Админ")
    loan = seed.loan(device, person, due=date(2026, 12, 1), place="склад")
    return device, spare, person, colleague, admin, loan


def test_open_loan_brings_its_holder_in_the_same_query(held):
    device, *_ = held
    loan, queries = count_queries(lambda: loans.open_loan(device.id))
    assert loan.person.email == "user1@company.ru"
    assert queries == 1


def test_errors_name_the_device_and_the_holder(held, clock):
    device, spare, person, colleague, _, _ = held
    with pytest.raises(NotFound) as missing:
        loans.return_device(spare.id + 100, person, now=clock.now)
    assert missing.value.details["device_id"] == spare.id + 100
    with pytest.raises(NotFound) as missing:
        loans.change(spare.id + 101, person, now=clock.now, place="склад")
    assert missing.value.details["device_id"] == spare.id + 101
    with pytest.raises(AlreadyReturned) as free:
        loans.return_device(spare.id, person, now=clock.now)
    assert free.value.details["device_id"] == spare.id
    with pytest.raises(NotHolder) as other:
        loans.return_device(device.id, colleague, now=clock.now)
    assert other.value.details["holder"].id == person.id


def test_return_records_who_what_and_when(held, clock):
    device, _, person, _, admin, loan = held
    clock.advance(hours=2)
    returned = loans.return_device(device.id, person, now=clock.now)
    assert (returned.id, returned.returned_at, returned.device.id) == (loan.id, clock.now,
                                                                       device.id)
    stored = Loan.get_by_id(loan.id)
    assert (stored.returned_at, stored.updated_at) == (clock.now, clock.now)
    action, actor, device_id, person_id, details = last_audit()
    assert (action, actor, device_id, person_id) == ("loan.returned", person.id, device.id,
                                                     person.id)
    assert details["loan_id"] == loan.id


def test_an_admin_return_is_an_unassignment(held, clock):
    device, _, person, _, admin, loan = held
    loans.return_device(device.id, admin, now=clock.now, admin=True)
    action, actor, device_id, person_id, details = last_audit()
    assert (action, actor, device_id, person_id) == ("loan.unassigned", admin.id, device.id,
                                                     person.id)
    assert details["loan_id"] == loan.id


def test_return_refused_for_someone_else_without_admin(held, clock):
    device, _, _, colleague, _, _ = held
    with pytest.raises(NotHolder):
        loans.return_device(device.id, colleague, now=clock.now)
    assert loans.open_loan(device.id) is not None


def test_change_records_the_change(held, clock):
    device, _, person, _, _, loan = held
    clock.advance(hours=1)
    changed = loans.change(device.id, person, now=clock.now, due_date=date(2026, 12, 24),
                           place="у окна")
    assert (changed.due_date, changed.place, changed.device.id) == (date(2026, 12, 24),
                                                                    "у окна", device.id)
    stored = Loan.get_by_id(loan.id)
    assert (stored.due_date, stored.place, stored.updated_at) == (date(2026, 12, 24), "у окна",
                                                                  clock.now)
    action, actor, device_id, person_id, details = last_audit()
    assert (action, actor, device_id, person_id) == ("loan.changed", person.id, device.id,
                                                     person.id)
    assert details["due_date"] == "2026-12-24" and details["place"] == "у окна"


def test_change_of_the_place_keeps_the_due_date(held, clock):
    device, _, person, _, _, loan = held
    loans.change(device.id, person, now=clock.now, place="дома")
    stored = Loan.get_by_id(loan.id)
    assert (stored.due_date, stored.place) == (date(2026, 12, 1), "дома")
    loans.change(device.id, person, now=clock.now, clear_due=True)
    assert Loan.get_by_id(loan.id).due_date is None


def test_take_records_the_loan_and_cuts_the_place(held, clock):
    _, spare, _, colleague, admin, _ = held
    loan = loans.take(spare.id, colleague, now=clock.now, place="x" * 300,
                      due_date=date(2026, 12, 3))
    stored = Loan.get_by_id(loan.id)
    assert (stored.person_id, stored.taken_at, stored.due_date, stored.assigned_by_id) == (
        colleague.id, clock.now, date(2026, 12, 3), None)
    assert stored.place == "x" * loans.PLACE_MAX
    assert (stored.created_at, stored.updated_at) == (clock.now, clock.now)
    assert (loan.device.id, loan.person.id) == (spare.id, colleague.id)
    action, actor, device_id, person_id, details = last_audit()
    assert (action, actor, device_id, person_id) == ("loan.taken", colleague.id, spare.id,
                                                     colleague.id)
    assert details["due_date"] == "2026-12-03"


def test_every_take_and_return_writes_its_own_values_not_the_first_ones(held, clock):
    """The loan's INSERT and UPDATE are compiled once: each run still stores its own values."""
    device, spare, person, colleague, admin, _ = held
    first_at = clock.now
    first = loans.take(spare.id, colleague, now=first_at, place="офис",
                       due_date=date(2026, 12, 3))
    clock.advance(hours=2)
    loans.return_device(spare.id, colleague, now=clock.now)
    closed_at = clock.now
    clock.advance(hours=1)
    second = loans.take(spare.id, person, now=clock.now, assigned_by=admin)
    clock.advance(hours=1)
    loans.return_device(device.id, admin, now=clock.now, admin=True)
    columns = (Loan.person, Loan.taken_at, Loan.due_date, Loan.place, Loan.assigned_by,
               Loan.returned_at, Loan.reminded_on, Loan.created_at, Loan.updated_at)
    stored = {row[0]: row[1:] for row in Loan.select(Loan.id, *columns).tuples()}
    assert stored[first.id] == (colleague.id, first_at, date(2026, 12, 3), "офис", None,
                                closed_at, None, first_at, closed_at)
    assert stored[second.id] == (person.id, closed_at + timedelta(hours=1), None, "", admin.id,
                                 None, None, closed_at + timedelta(hours=1),
                                 closed_at + timedelta(hours=1))
    # The held device's loan closed by the admin; the other loans were left alone.
    assert [row.returned_at for row in Loan.select().where(Loan.device == device.id)] == [
        clock.now]
    audits = AuditLog.select(AuditLog.action, AuditLog.created_at, AuditLog.updated_at).order_by(
        AuditLog.id).tuples()
    assert list(audits)[-4:] == [
        ("loan.taken", first_at, first_at), ("loan.returned", closed_at, closed_at),
        ("loan.assigned", closed_at + timedelta(hours=1), closed_at + timedelta(hours=1)),
        ("loan.unassigned", clock.now, clock.now)]


def test_an_assignment_records_the_admin(held, clock):
    _, spare, _, colleague, admin, _ = held
    loan = loans.take(spare.id, colleague, now=clock.now, assigned_by=admin, place="офис")
    assert Loan.get_by_id(loan.id).assigned_by_id == admin.id
    action, actor, device_id, person_id, details = last_audit()
    assert (action, actor, device_id, person_id) == ("loan.assigned", admin.id, spare.id,
                                                     colleague.id)
    assert details["place"] == "офис"


def test_an_assignment_over_a_hold_puts_it_back_in_line_and_says_so(held, clock):
    _, spare, _, colleague, admin, _ = held
    until = clock.now + timedelta(hours=5)
    hold = QueueEntry.create(device=spare, person=admin, joined_at=clock.now, hold_until=until,
                             created_at=clock.now, updated_at=clock.now)
    clock.advance(minutes=5)
    loans.take(spare.id, colleague, now=clock.now, assigned_by=admin)
    stored = QueueEntry.get_by_id(hold.id)
    assert (stored.hold_until, stored.updated_at) == (None, clock.now)
    cleared = AuditLog.get(AuditLog.action == "hold.cleared")
    assert (cleared.actor_id, cleared.device_id, cleared.person_id) == (admin.id, spare.id,
                                                                        admin.id)


def test_a_take_is_refused_only_while_someone_elses_hold_is_live(held, clock, seed):
    _, spare, _, colleague, admin, _ = held
    third = seed.device(9, "Штрих")
    for device, until in ((spare, clock.now + timedelta(hours=1)), (third, clock.now)):
        QueueEntry.create(device=device, person=admin, joined_at=clock.now, hold_until=until,
                          created_at=clock.now, updated_at=clock.now)
    with pytest.raises(HeldForQueue) as refused:
        loans.take(spare.id, colleague, now=clock.now)
    assert (refused.value.details["person"].id, refused.value.details["until"]) == (
        admin.id, clock.now + timedelta(hours=1))
    assert loans.take(third.id, colleague, now=clock.now).person == colleague  # ended just now
    assert loans.take(spare.id, colleague, now=clock.now + timedelta(hours=1)).person == colleague


def test_take_without_a_place_stores_none(held, clock):
    _, spare, _, colleague, _, _ = held
    loan = loans.take(spare.id, colleague, now=clock.now)
    stored = Loan.get_by_id(loan.id)
    assert (stored.place, stored.due_date) == ("", None)


def return_it_while_locking(monkeypatch, loan, clock) -> None:
    """Someone else returns the loan right after the domain takes the device's lock."""
    real_lock = loans.lock_device

    def lock_after_someone_returned(device_id):
        locked = real_lock(device_id)
        Loan.update(returned_at=clock.now).where(Loan.id == loan.id).execute()
        return locked

    monkeypatch.setattr(loans, "lock_device", lock_after_someone_returned)


def test_a_return_overtaken_by_another_is_refused(held, clock, monkeypatch):
    device, _, person, _, _, loan = held
    return_it_while_locking(monkeypatch, loan, clock)
    with pytest.raises(AlreadyReturned) as refused:
        loans.return_device(device.id, person, now=clock.now)
    assert refused.value.details["device_id"] == device.id


def test_a_change_overtaken_by_a_return_is_refused_and_names_the_device(held, clock,
                                                                       monkeypatch):
    device, _, person, _, _, loan = held
    return_it_while_locking(monkeypatch, loan, clock)
    with pytest.raises(AlreadyReturned) as refused:
        loans.change(device.id, person, now=clock.now, place="Склад")
    assert refused.value.details["device_id"] == device.id
    assert Loan.get_by_id(loan.id).place != "Склад"


def test_a_take_for_a_person_who_is_gone_is_refused_and_writes_nothing(held, clock):
    # The person lock refuses before any write (it used to reach the foreign key).
    _, spare, _, _, _, _ = held
    from models import Person

    ghost = Person(id=9999, email="ghost@company.ru")  # no such row
    with pytest.raises(NotFound) as refused:
        loans.take(spare.id, ghost, now=clock.now)
    assert refused.value.details["person_id"] == 9999
    assert not Loan.select().where(Loan.device == spare.id).exists()


def test_a_plain_take_leaves_a_run_out_hold_to_expire(held, clock):
    _, spare, _, colleague, admin, _ = held
    ran_out = QueueEntry.create(device=spare, person=admin, joined_at=clock.now - timedelta(
        days=1), hold_until=clock.now - timedelta(hours=1), created_at=clock.now,
        updated_at=clock.now)
    loans.take(spare.id, colleague, now=clock.now)
    assert QueueEntry.get_by_id(ran_out.id).hold_until == clock.now - timedelta(hours=1)
    assert not AuditLog.select().where(AuditLog.action == "hold.cleared").exists()


def line_up(device, people, clock, hold: timedelta | None = None) -> list[QueueEntry]:
    """People in line for device, in this order; the first holds it for `hold` from now
    (negative: ran out), or nobody holds it."""
    entries = []
    for index, person in enumerate(people):
        until = clock.now + hold if hold is not None and index == 0 else None
        entries.append(QueueEntry.create(
            device=device, person=person, joined_at=clock.now - timedelta(hours=10 - index),
            hold_until=until, created_at=clock.now, updated_at=clock.now))
    return entries


@pytest.mark.parametrize("hold", [None, timedelta(hours=-1), timedelta(0)],
                         ids=["line without a hold", "run-out hold", "hold ending now"])
def test_an_unsettled_take_asks_for_settling_before_writing(held, clock, hold):
    _, spare, person, colleague, admin, _ = held
    line_up(spare, [admin, person], clock, hold)
    before = (Loan.select().count(), QueueEntry.select().count(), AuditLog.select().count())
    with pytest.raises(Unsettled) as asked:
        loans.take(spare.id, colleague, now=clock.now, settled=False)
    assert asked.value.details == {"device_id": spare.id}
    assert (Loan.select().count(), QueueEntry.select().count(),
            AuditLog.select().count()) == before
    # Settled by the caller: the take goes on as before (the line is not owed anything here).
    assert loans.take(spare.id, colleague, now=clock.now).person == colleague


def test_a_settled_looking_take_goes_on_and_returns_the_line_behind(held, clock, seed):
    _, spare, person, colleague, admin, _ = held
    third = seed.device(9, "Штрих")
    assert loans.take(third.id, person, now=clock.now, settled=False).queue_after == []
    waiting = line_up(spare, [colleague, admin, person], clock, timedelta(hours=1))
    loan = loans.take(spare.id, colleague, now=clock.now, settled=False)
    assert [(e.id, e.person.name) for e in loan.queue_after] == [
        (waiting[1].id, admin.name), (waiting[2].id, person.name)]
    # Someone else's live hold is refused as before, not sent to settling.
    fourth = seed.device(10, "Меркурий")
    line_up(fourth, [admin], clock, timedelta(hours=1))
    with pytest.raises(HeldForQueue):
        loans.take(fourth.id, colleague, now=clock.now, settled=False)
    # An admin's assignment deals with the line itself.
    fifth = seed.device(11, "Сканер")
    line_up(fifth, [admin], clock)
    assigned = loans.take(fifth.id, colleague, now=clock.now, assigned_by=admin, settled=False)
    assert (assigned.person, assigned.queue_after) == (colleague, None)
