"""Reminder data in detail: orders, claims and releases with their timestamps, digest rows."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from inventory import reminders
from models import AuditLog, Loan, Person

TODAY = date(2026, 11, 26)
LATER = datetime(2026, 11, 26, 15, 0)


@pytest.fixture
def due(backend, seed):
    """Loans of three people, due on a few days, created out of number and date order."""
    ann, bob, eve = (seed.person(i, name=n) for i, n in ((1, "Анна"), (2, "Борис"), (3, "Ева")))
    plan = [(bob, 12, date(2026, 11, 20)), (ann, 9, date(2026, 11, 27)),
            (ann, 5, date(2026, 11, 20)), (bob, 3, date(2026, 11, 20)),
            (ann, 2, date(2026, 11, 27)), (eve, 1, date(2026, 12, 20)), (eve, 4, None)]
    loans = {number: seed.loan(seed.device(number), person, due=when)
             for person, number, when in plan}
    return (ann, bob, eve), loans


def numbers(found: list[Loan]) -> list[int]:
    """Device numbers of loans in order."""
    return [loan.device.number for loan in found]


def test_due_loans_go_by_person_then_date_then_number(due):
    (ann, bob, _), _ = due
    found = reminders.due_loans(date(2026, 11, 28))
    assert [loan.person.id for loan in found] == [ann.id] * 3 + [bob.id] * 2
    assert numbers(found) == [5, 2, 9, 3, 12]


def test_overdue_loans_tie_on_the_date_by_number(due):
    assert numbers(reminders.overdue_loans(TODAY)) == [3, 5, 12]


def test_no_working_days_is_a_clear_error():
    with pytest.raises(ValueError, match="^no working weekdays configured$"):
        reminders.next_working_day(TODAY, frozenset())


def test_claim_and_release_stamp_and_restore_each_loan(due, clock):
    _, loans = due
    yesterday = TODAY - timedelta(days=1)
    Loan.update(reminded_on=yesterday).where(Loan.id == loans[5].id).execute()
    ids = [loans[n].id for n in (3, 5, 12)]
    assert reminders.claim(ids, TODAY, TODAY, LATER) == set(ids)
    assert {(x.reminded_on, x.updated_at) for x in Loan.select().where(Loan.id.in_(ids))} == {
        (TODAY, LATER)}
    later = LATER + timedelta(minutes=5)
    previous = {loans[3].id: None, loans[5].id: yesterday, loans[12].id: None}
    assert reminders.release(previous, TODAY, later) == 3
    stored = {x.id: (x.reminded_on, x.updated_at) for x in Loan.select().where(Loan.id.in_(ids))}
    assert stored == {loans[3].id: (None, later), loans[5].id: (yesterday, later),
                      loans[12].id: (None, later)}


def test_release_counts_every_chunk(due, monkeypatch):
    _, loans = due
    monkeypatch.setattr(reminders, "CHUNK", 2)
    ids = [loan.id for loan in loans.values() if loan.due_date]
    claimed = reminders.claim(ids, TODAY, date(2026, 12, 31), LATER)
    assert claimed == set(ids)
    assert reminders.release(dict.fromkeys(ids), TODAY, LATER) == len(ids)
    assert not Loan.select().where(Loan.reminded_on.is_null(False)).exists()


def test_unreachable_holders_by_name_then_email(backend, seed):
    holders = [("Яна", "b@company.ru"), ("Алла", "z@company.ru"), ("Яна", "a@company.ru")]
    for index, (name, email) in enumerate(holders):
        person = Person.create(telegram_id=None, email=email, name=name)
        seed.loan(seed.device(index + 1), person)
        seed.loan(seed.device(index + 11), person)
    found = reminders.unreachable_holders()
    assert [(p.name, p.email, count) for p, count in found] == [
        ("Алла", "z@company.ru", 2), ("Яна", "a@company.ru", 2), ("Яна", "b@company.ru", 2)]


def test_a_released_digest_keeps_its_row_as_history(backend, conn, clock):
    entry = reminders.claim_digest(TODAY, 900, clock.now)
    reminders.release_digest(entry, LATER)
    row = AuditLog.get_by_id(entry)
    assert (row.action, row.updated_at, row.created_at) == (reminders.DIGEST_RELEASED, LATER,
                                                            clock.now)
    assert reminders.claim_digest(TODAY, 900, LATER) is not None
