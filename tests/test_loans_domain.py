"""Domain rules of loans on SQLite and PostgreSQL, including the concurrent-take race."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from inventory import devices, loans
from inventory.dates import parse_future_date
from inventory.errors import AlreadyReturned, AlreadyTaken, InvalidDate, NotHolder, PastDate
from models import AuditLog, Loan, db


def test_take_and_return(backend, seed, clock):
    device = seed.device(1)
    person = seed.person(1)
    loan = loans.take(device.id, person, now=clock.now, place="офис", due_date=date(2026, 12, 1))
    assert loans.open_loan(device.id).id == loan.id
    with pytest.raises(AlreadyTaken) as err:
        loans.take(device.id, seed.person(2), now=clock.now)
    assert err.value.details["holder"].id == person.id
    clock.advance(hours=1)
    with pytest.raises(NotHolder):
        loans.return_device(device.id, seed.person(3), now=clock.now)
    loans.return_device(device.id, person, now=clock.now)
    with pytest.raises(AlreadyReturned):
        loans.return_device(device.id, person, now=clock.now)
    assert [a.action for a in AuditLog.select().order_by(AuditLog.id)] == [
        "loan.taken", "loan.returned"]


def test_search_ignores_case_and_yo(backend, seed, clock):
    seed.device(10, "Сканер Ёлка", serial="AbC-1")
    seed.device(11, "Весы", serial="X-10")
    assert [r.device.number for r in devices.search("елка", 1, clock.now).rows] == [10]
    assert [r.device.number for r in devices.search("abc", 1, clock.now).rows] == [10]
    # Substrings only: the sticker number is devices.exact's (the card opens at once).
    assert [r.device.number for r in devices.search("10", 1, clock.now).rows] == [11]
    assert devices.exact("№10", clock.now).device.number == 10
    assert devices.search("100%", 1, clock.now).total == 0


def test_parse_future_date():
    today = date(2026, 11, 26)
    assert parse_future_date("1.12.26", today) == date(2026, 12, 1)
    assert parse_future_date("2026-12-31", today) == date(2026, 12, 31)
    with pytest.raises(PastDate):
        parse_future_date("25.11.2026", today)
    for bad in ("31.02.2027", "завтра", "12/2026", ""):
        with pytest.raises(InvalidDate):
            parse_future_date(bad, today)


def test_twenty_threads_taking_one_device_give_one_loan(backend, seed, clock, database):
    device = seed.device(1)
    people = [seed.person(100 + i) for i in range(20)]
    db.close()
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(person):
        db.connect(reuse_if_open=True)
        try:
            barrier.wait()
            loans.take(device.id, person, now=clock.now)
            result = "taken"
        except AlreadyTaken:
            result = "refused"
        finally:
            db.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    db.connect(reuse_if_open=True)
    assert sorted(outcomes) == ["refused"] * 19 + ["taken"]
    assert Loan.select().where(Loan.device == device.id).count() == 1
    assert AuditLog.select().where(AuditLog.action == "loan.taken").count() == 1
