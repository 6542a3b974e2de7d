"""Competing writes refuse one side, on SQLite and PostgreSQL: the record is never false.

Each test runs many rounds of two (or three) threads released together by a barrier, with a
little seeded jitter so both orders and the overlaps in between occur. Whatever the order, the
invariant holds: never both sides succeed when only one may, and a refused side is refused with
a domain error (which handlers turn into a clear line), never a database error.

Without the locks these tests fail on PostgreSQL (inventory.locks.lock_device / lock_person
taken before the check); on SQLite the same is done by taking the write lock up front
(BEGIN IMMEDIATE, sqlite_db.py) and checking inside the transaction.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from conftest import ADMIN_ID

from inventory import admin_people, catalog, devtools, handover, loans, queue
from inventory.errors import DomainError, NotFound
from inventory.import_apply import apply_plan, existing_data
from inventory.importing import build_plan
from models import Device, Loan, Person, QueueEntry, db

ROUNDS = 20
OK = "ok"


def race(*works: Callable[[], Any], jitter: random.Random) -> list[Any]:
    """Run the works in threads released together; each gives its result or its DomainError."""
    barrier = threading.Barrier(len(works))
    results: list[Any] = [None] * len(works)
    failures: list[BaseException] = []
    delays = [jitter.uniform(0, 0.004) for _ in works]

    def run(i: int) -> None:
        db.connect(reuse_if_open=True)
        try:
            barrier.wait()
            threading.Event().wait(delays[i])
            results[i] = works[i]()
        except DomainError as err:
            results[i] = err
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread below
            failures.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    db.close()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    db.connect(reuse_if_open=True)
    if failures:
        raise failures[0]
    return results


def ok(result: Any) -> bool:
    """Whether a raced call succeeded."""
    return not isinstance(result, DomainError)


@pytest.fixture
def admin(seed, backend):
    """The acting admin."""
    return seed.person(ADMIN_ID, name="Админ")


def test_delete_vs_take(admin, seed, clock):
    taker = seed.person(101)
    jitter = random.Random(11)
    for n in range(1, ROUNDS + 1):
        device = seed.device(n)
        deleted, taken = race(
            lambda d=device: catalog.delete_device(d.id, actor=admin, now=clock.now),
            lambda d=device: loans.take(d.id, taker, now=clock.now), jitter=jitter)
        assert ok(deleted) != ok(taken), f"round {n}: delete {deleted!r}, take {taken!r}"
        exists = Device.select().where(Device.id == device.id).exists()
        assert exists == ok(taken)
        if ok(taken):
            assert loans.open_loan(device.id).person_id == taker.id
    assert Loan.select().where(Loan.returned_at.is_null()).count() == len(
        [1 for d in Device.select()])


def test_purge_vs_take_and_assign(admin, seed, clock):
    taker = seed.person(101)
    jitter = random.Random(12)
    for n in range(1, ROUNDS + 1):
        device = seed.device(n)
        assign = n % 2 == 0  # odd rounds: the person takes; even: an admin assigns
        purged, taken = race(
            lambda d=device: devtools.purge([d.id], person=admin, telegram_id=ADMIN_ID,
                                            now=clock.now),
            lambda d=device, by=admin if assign else None: loans.take(
                d.id, taker, now=clock.now, assigned_by=by),
            jitter=jitter)
        purged_it = ok(purged) and [d.id for d in purged] == [device.id]
        assert purged_it != ok(taken), f"round {n}: purge {purged!r}, take {taken!r}"
        assert Device.select().where(Device.id == device.id).exists() == ok(taken)


def test_delete_person_vs_assign(admin, seed, clock):
    jitter = random.Random(13)
    for n in range(1, ROUNDS + 1):
        person = seed.person(1000 + n)
        device = seed.device(n)
        deleted, assigned = race(
            lambda p=person: admin_people.delete_person(p.id, actor=admin, now=clock.now),
            lambda d=device, p=person: loans.take(d.id, p, now=clock.now, assigned_by=admin),
            jitter=jitter)
        assert ok(deleted) != ok(assigned), f"round {n}: {deleted!r}, {assigned!r}"
        gone = Person.get_by_id(person.id).deleted_at is not None
        holds = Loan.select().where((Loan.person == person.id)
                                    & Loan.returned_at.is_null()).exists()
        assert not (gone and holds), f"round {n}: a deleted person holds a device"
        assert holds == ok(assigned)


def test_handover_accept_vs_delete_colleague(admin, seed, clock):
    holder = seed.person(101)
    jitter = random.Random(14)
    for n in range(1, ROUNDS + 1):
        colleague = seed.person(1000 + n)
        device = seed.device(n)
        loans.take(device.id, holder, now=clock.now)
        offer = handover.offer(device.id, holder, colleague, clock.now)
        deleted, accepted = race(
            lambda p=colleague: admin_people.delete_person(p.id, actor=admin, now=clock.now),
            lambda h=offer, p=colleague: handover.accept(h.id, p, clock.now), jitter=jitter)
        assert ok(deleted) != ok(accepted), f"round {n}: {deleted!r}, {accepted!r}"
        current = loans.open_loan(device.id)
        assert current.person_id == (colleague.id if ok(accepted) else holder.id)
        assert Person.get_by_id(colleague.id).deleted_at is None or current.person_id != \
            colleague.id


def test_queue_join_vs_delete_device(admin, seed, clock):
    waiting = seed.person(101)
    joiner = seed.person(102)
    jitter = random.Random(15)
    for n in range(1, ROUNDS + 1):
        device = seed.device(n)
        # A free device with someone in line: joining is allowed, so is deleting.
        QueueEntry.create(device=device, person=waiting, joined_at=clock.now)
        deleted, joined = race(
            lambda d=device: catalog.delete_device(d.id, actor=admin, now=clock.now),
            lambda d=device: queue.join(d.id, joiner, clock.now), jitter=jitter)
        if ok(deleted):
            told = {p.id for p in deleted["waiting"]}
            # Whoever was told they joined is told the device went.
            assert not ok(joined) or joiner.id in told, f"round {n}: the joiner was not told"
        else:
            pytest.fail(f"round {n}: the delete was refused: {deleted!r}")
        assert not QueueEntry.select().where(QueueEntry.device == device.id).exists()


def test_queue_join_vs_delete_person(admin, seed, clock):
    holder = seed.person(101)
    jitter = random.Random(16)
    for n in range(1, ROUNDS + 1):
        person = seed.person(1000 + n)
        device = seed.device(n)
        loans.take(device.id, holder, now=clock.now)
        deleted, joined = race(
            lambda p=person: admin_people.delete_person(p.id, actor=admin, now=clock.now),
            lambda d=device, p=person: queue.join(d.id, p, clock.now), jitter=jitter)
        assert ok(deleted), f"round {n}: {deleted!r}"
        left = QueueEntry.select().where(QueueEntry.person == person.id).exists()
        assert not left, f"round {n}: a deleted person waits in line (join {joined!r})"


def test_edit_vs_delete(admin, seed, clock):
    jitter = random.Random(17)
    for n in range(1, ROUNDS + 1):
        device = seed.device(n, name="Старое имя")
        deleted, edited = race(
            lambda d=device: catalog.delete_device(d.id, actor=admin, now=clock.now),
            lambda d=device: catalog.update_field(d.id, "name", "Новое имя", actor=admin,
                                                  now=clock.now), jitter=jitter)
        assert ok(deleted), f"round {n}: {deleted!r}"
        assert ok(edited) or isinstance(edited, NotFound), f"round {n}: edit {edited!r}"
        if ok(edited):
            # The edit came first, so the history the delete kept shows it.
            assert deleted["device"]["name"] == "Новое имя", f"round {n}: an edit was lost"
        assert not Device.select().where(Device.id == device.id).exists()


HEADER = ["Айди", "Название", "Категория", "Артикул", "Дата регистрации", "Прошивка",
          "Комментарий", "Электронная почта", "Место устройства", "Дата возврата"]


def test_import_apply_vs_return_and_take(admin, seed, clock):
    """The file gives the holder a new place; meanwhile they return it and another takes it."""
    holder = seed.person(101, email="holder@company.ru")
    other = seed.person(102)
    jitter = random.Random(18)
    today = date(2026, 11, 26)
    for n in range(1, ROUNDS + 1):
        device = seed.device(n, name=f"Касса {n}", serial=f"SN-{n:05d}")
        loans.take(device.id, holder, now=clock.now, place="склад")
        existing = existing_data()
        plan = build_plan([HEADER, [str(n), f"Касса {n}", "Онлайн-касса", f"SN-{n:05d}", "", "",
                                    "", "holder@company.ru", "офис 5", ""]], existing, today)
        assert plan.ok and len(plan.updates) == 1 and not plan.loans

        def swap(d: Any = device) -> str:
            loans.return_device(d.id, holder, now=clock.now + timedelta(seconds=1))
            loans.take(d.id, other, now=clock.now + timedelta(seconds=1))
            return OK

        imported, swapped = race(
            lambda p=plan, e=existing: apply_plan(p, admin, clock.now,
                                                  seen_loans=e.open_loans),
            swap, jitter=jitter)
        assert ok(swapped)
        closed = Loan.get((Loan.device == device.id) & (Loan.person == holder.id))
        if ok(imported):
            assert imported.updated == 1
            # It ran before the return: the loan it reported as updated has the file's place.
            assert closed.place == "офис 5", f"round {n}: the import updated nothing"
        assert loans.open_loan(device.id).person_id == other.id
