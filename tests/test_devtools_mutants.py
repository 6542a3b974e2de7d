"""inventory/devtools.py against mutants: the code lock-out, log reading, purge and wipe.

Each test runs on several developers, events, categories and devices, so a dropped or weakened
WHERE clause, a flipped comparison or a lost order changes a result the test pins (see
docs/mutation.md).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import peewee as pw
import pytest
from conftest import LATEST_MIGRATION, T0
from test_write_filters import changed, snapshot

from inventory import backup, devtools
from inventory.errors import Conflict
from models import MODELS, AuditLog, Category, Device, Loan, Person, QueueEntry

DEV, OTHER_DEV = 7001, 7002
MINUTE = timedelta(minutes=1)


def event(action: str, telegram_id: int, at: datetime) -> AuditLog:
    """One developer event at a given time."""
    return devtools.record(action, telegram_id=telegram_id, person=None, now=at)


def details(entry: AuditLog) -> dict:
    """An audit row's details."""
    return json.loads(AuditLog.get_by_id(entry.id).details)


def purged_details() -> dict[int, dict]:
    """Details of every purged-device audit row, by device number."""
    rows = AuditLog.select().where(AuditLog.action == devtools.PURGED_DEVICE)
    return {json.loads(a.details)["device_number"]: json.loads(a.details) for a in rows}


# --- record and the code -----------------------------------------------------------------------


def test_record_writes_actor_time_and_every_detail(backend, seed):
    dev = seed.person(DEV, "dev@company.ru")
    entry = devtools.record("dev.something", telegram_id=DEV, person=dev, now=T0,
                            day=date(2026, 11, 26), name="Весы", ids=[1, 2])
    row = AuditLog.get_by_id(entry.id)
    assert (row.action, row.actor_id, row.actor_telegram_id) == ("dev.something", dev.id, DEV)
    assert (row.created_at, row.updated_at) == (T0, T0)
    assert json.loads(row.details) == {"day": "2026-11-26", "name": "Весы", "ids": [1, 2]}
    assert "Весы" in row.details  # stored as text, not as \u escapes
    anonymous = devtools.record("dev.other", telegram_id=OTHER_DEV, person=None, now=T0)
    assert AuditLog.get_by_id(anonymous.id).actor_id is None
    assert json.loads(AuditLog.get_by_id(anonymous.id).details) == {}


def test_check_code_is_exact_after_trimming_and_never_matches_an_empty_code():
    assert devtools.check_code(" s3cret \n", "s3cret") is True
    assert devtools.check_code("s3cret", "s3cret") is True
    assert devtools.check_code("s3cre", "s3cret") is False
    assert devtools.check_code("S3CRET", "s3cret") is False
    assert devtools.check_code("", "") is False
    assert devtools.check_code("anything", "") is False


# --- the lock-out ------------------------------------------------------------------------------


def test_failures_count_only_this_developers_code_events_of_the_last_15_minutes(backend, seed):
    now = T0
    for at in (now - 20 * MINUTE, now - 15 * MINUTE, now - 10 * MINUTE, now):
        event(devtools.CODE_FAILED, DEV, at)
    event("dev.purge_asked", DEV, now - 5 * MINUTE)  # not a code event: does not break the run
    event(devtools.CODE_OK, DEV, now + MINUTE)  # later than now: not seen yet
    event(devtools.CODE_OK, OTHER_DEV, now - 2 * MINUTE)  # another developer's
    event(devtools.LOCKED, OTHER_DEV, now - 3 * MINUTE)
    assert devtools.failures(DEV, now) == 2  # now and now - 10 minutes
    assert devtools.locked_until(DEV, now) is None
    assert devtools.failures(OTHER_DEV, now) == 0
    assert devtools.locked_until(OTHER_DEV, now) == now + 12 * MINUTE
    # A minute later the future right code is seen and ends the run of failures.
    assert devtools.failures(DEV, now + MINUTE) == 0


def test_failures_run_from_the_newest_event_back_to_a_right_code(backend, seed):
    now = T0
    # Written out of time order: the time decides, not the row id.
    event(devtools.CODE_OK, DEV, now - 8 * MINUTE)
    event(devtools.CODE_FAILED, DEV, now - 2 * MINUTE)
    event(devtools.CODE_FAILED, DEV, now - 4 * MINUTE)
    event(devtools.CODE_FAILED, DEV, now - 12 * MINUTE)
    assert devtools.failures(DEV, now) == 2
    # Same time: the later row (higher id) is the newer event.
    event(devtools.CODE_FAILED, DEV, now - MINUTE)
    event(devtools.CODE_OK, DEV, now - MINUTE)
    assert devtools.failures(DEV, now) == 0
    event(devtools.CODE_OK, OTHER_DEV, now - MINUTE)
    event(devtools.CODE_FAILED, OTHER_DEV, now - MINUTE)
    assert devtools.failures(OTHER_DEV, now) == 1


def test_locked_until_follows_the_newest_lock_out(backend, seed):
    now = T0
    event(devtools.LOCKED, DEV, now - 14 * MINUTE)
    event(devtools.CODE_FAILED, DEV, now - 10 * MINUTE)
    event(devtools.LOCKED, DEV, now - 6 * MINUTE)
    event(devtools.CODE_FAILED, DEV, now - 3 * MINUTE)
    assert devtools.locked_until(DEV, now) == now + 9 * MINUTE
    assert devtools.locked_until(DEV, now + 10 * MINUTE) is None  # both are older than 15 min


def test_third_wrong_code_locks_and_the_count_starts_again(backend, seed):
    dev = seed.person(DEV, "dev@company.ru")
    now = T0
    assert devtools.code_failed(DEV, dev, now, "wipe") == (2, None)
    assert devtools.code_failed(OTHER_DEV, None, now, "purge") == (2, None)
    assert devtools.code_failed(DEV, dev, now + MINUTE, "purge") == (1, None)
    assert devtools.locked_until(DEV, now + MINUTE) is None
    assert devtools.code_failed(DEV, dev, now + 2 * MINUTE, "wipe") == (0, now + 17 * MINUTE)
    assert devtools.locked_until(DEV, now + 2 * MINUTE) == now + 17 * MINUTE
    assert devtools.locked_until(OTHER_DEV, now + 2 * MINUTE) is None
    rows = list(AuditLog.select().where(AuditLog.actor_telegram_id == DEV).order_by(AuditLog.id))
    assert [r.action for r in rows] == [devtools.CODE_FAILED] * 3 + [devtools.LOCKED]
    assert [json.loads(r.details) for r in rows] == [
        {"for_action": "wipe"}, {"for_action": "purge"}, {"for_action": "wipe"},
        {"failures": 3, "minutes": 15}]
    assert rows[-1].details == '{"failures": 3, "minutes": 15}'  # whole minutes
    assert all(r.actor_id == dev.id for r in rows)
    assert rows[-1].created_at == now + 2 * MINUTE
    # After the lock-out the count starts from zero again.
    assert devtools.code_failed(DEV, dev, now + 3 * MINUTE, "wipe") == (2, None)


# --- logs --------------------------------------------------------------------------------------


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    """Ten numbered lines, one of them with a byte that is not UTF-8."""
    path = tmp_path / "bot.log"
    lines = [f"line {n}".encode() for n in range(1, 11)]
    lines[8] = b"line \xff9"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("block", [1, 3, 1000])
def test_tail_lines_gives_exactly_the_last_lines(log_file, block):
    path = str(log_file)
    assert devtools.tail_lines(path, 3, block) == ["line 8", "line \ufffd9", "line 10"]
    assert devtools.tail_lines(path, 1, block) == ["line 10"]
    assert devtools.tail_lines(path, 0, block) == []
    every = devtools.tail_lines(path, 50, block)
    assert every is not None and len(every) == 10 and every[0] == "line 1"


def test_tail_lines_with_the_default_block_and_a_missing_file(log_file):
    assert devtools.tail_lines(str(log_file), 2) == ["line \ufffd9", "line 10"]
    assert devtools.tail_lines(str(log_file.with_name("none.log")), 2) is None


def test_read_log_returns_the_whole_file_or_its_flagged_tail(tmp_path):
    path = tmp_path / "bot.log"
    path.write_bytes(b"0123456789" * 10)
    assert devtools.read_log(str(path), 1000) == (b"0123456789" * 10, False)
    assert devtools.read_log(str(path), 100) == (b"0123456789" * 10, False)
    assert devtools.read_log(str(path), 99) == (b"123456789" + b"0123456789" * 9, True)
    assert devtools.read_log(str(path), 4) == (b"6789", True)
    assert devtools.read_log(str(tmp_path / "none.log"), 10) is None


# --- purge -------------------------------------------------------------------------------------


@pytest.fixture
def fleet(backend, seed) -> dict:
    """Two categories with free, held and returned devices, an empty category, a queue."""
    users = [seed.person(100 + i, f"u{i}@company.ru") for i in range(4)]
    admin = seed.person(DEV, "dev@company.ru")
    scales = [seed.device(n, f"Весы {n}", category="Весы") for n in (5, 3, 1)]
    kassa = [seed.device(n, f"Касса {n}", category="Онлайн-касса") for n in (12, 10, 11)]
    seed.category("Пустая")
    seed.loan(scales[2], users[0])  # number 1 held
    seed.loan(kassa[0], users[1])  # number 12 held
    old = Loan.create(device=kassa[1], person=users[2], taken_at=T0 - timedelta(days=9),
                      returned_at=T0 - timedelta(days=8), due_date=date(2026, 11, 20),
                      place="офис", assigned_by=admin)
    older = Loan.create(device=kassa[1], person=users[3], taken_at=T0 - timedelta(days=20),
                        returned_at=T0 - timedelta(days=19), place="склад")
    Loan.create(device=scales[0], person=users[0], taken_at=T0 - timedelta(days=3),
                returned_at=T0 - timedelta(days=2))
    late = QueueEntry.create(device=kassa[1], person=users[0], joined_at=T0 - 2 * MINUTE)
    early = QueueEntry.create(device=kassa[1], person=users[3], joined_at=T0 - 9 * MINUTE)
    between = QueueEntry.create(device=scales[1], person=users[2], joined_at=T0 - 5 * MINUTE)
    QueueEntry.create(device=kassa[0], person=users[3], joined_at=T0 - 7 * MINUTE)
    return {"users": users, "admin": admin, "scales": scales, "kassa": kassa, "old": old,
            "older": older, "late": late, "early": early, "between": between}


def test_free_by_category_counts_free_and_total_by_name(fleet, clock):
    assert [(c.category.name, c.free, c.total) for c in devtools.free_by_category()] == [
        ("Весы", 2, 3), ("Онлайн-касса", 2, 3), ("Пустая", 0, 0)]


def test_an_empty_category_has_nothing_free_when_nothing_is_held(backend, seed, clock):
    seed.category("Пустая")  # created first: the order is by name, not by id
    seed.device(1, category="Весы")
    assert [(c.category.name, c.free, c.total) for c in devtools.free_by_category()] == [
        ("Весы", 1, 1), ("Пустая", 0, 0)]


def test_purge_plan_of_everything(fleet):
    plan = devtools.purge_plan(None)
    assert plan.category is None
    assert [d.number for d in plan.devices] == [3, 5, 10, 11]
    assert plan.device_ids == [d.id for d in plan.devices]
    assert (plan.held, plan.loans, plan.queue) == (2, 3, 3)


def test_purge_plan_of_one_category(fleet):
    kassa = Category.get(Category.name == "Онлайн-касса")
    plan = devtools.purge_plan(kassa.id)
    assert plan.category is not None and plan.category.id == kassa.id
    assert [d.number for d in plan.devices] == [10, 11]
    assert (plan.held, plan.loans, plan.queue) == (1, 2, 2)
    scales = Category.get(Category.name == "Весы")
    plan = devtools.purge_plan(scales.id)
    assert plan.category.name == "Весы"
    assert [d.number for d in plan.devices] == [3, 5]
    assert (plan.held, plan.loans, plan.queue) == (1, 1, 1)
    empty = devtools.purge_plan(Category.get(Category.name == "Пустая").id)
    assert (empty.devices, empty.held, empty.loans, empty.queue) == ([], 0, 0, 0)


def test_purge_plan_of_a_deleted_category_is_refused(fleet):
    gone = Category.create(name="Удалённая")
    gone_id = gone.id
    gone.delete_instance()
    with pytest.raises(Conflict) as caught:
        devtools.purge_plan(gone_id)
    assert caught.value.details == {"reason": "category gone", "category_id": gone_id}


def test_purge_deletes_only_the_free_devices_asked_for(fleet, clock):
    scales, kassa, users = fleet["scales"], fleet["kassa"], fleet["users"]
    # 10, 1 (held), 11, 12 (held), 3
    asked = [kassa[1].id, scales[2].id, kassa[2].id, kassa[0].id, scales[1].id]
    before = snapshot()
    waiting: list[tuple[Person, Device]] = [(users[1], scales[0])]  # kept, added to
    gone = devtools.purge(asked, person=fleet["admin"], telegram_id=DEV, now=clock.now,
                          category="Онлайн-касса", waiting=waiting)
    assert [d.number for d in gone] == [3, 10, 11]
    assert sorted(d.number for d in Device.select()) == [1, 5, 12]
    diff = changed(before)
    assert diff["Device"] == {scales[1].id, kassa[1].id, kassa[2].id}
    assert diff["Loan"] == {fleet["old"].id, fleet["older"].id}
    assert diff["QueueEntry"] == {fleet["between"].id, fleet["late"].id, fleet["early"].id}
    assert set(diff) == {"Device", "Loan", "QueueEntry"}
    # Everyone who queued for a deleted device, device by device (by id: number 3 was added
    # before 10) and in queue order, after what was there.
    assert [(p.id, d.number) for p, d in waiting] == [
        (users[1].id, 5), (users[2].id, 3), (users[3].id, 10), (users[0].id, 10)]
    run = AuditLog.get(AuditLog.action == "dev.purge")
    assert (run.actor_id, run.actor_telegram_id, run.created_at) == (
        fleet["admin"].id, DEV, clock.now)
    assert json.loads(run.details) == {"category": "Онлайн-касса", "asked": 5, "deleted": 3,
                                       "numbers": [3, 10, 11]}


def test_purge_audits_each_device_with_its_history(fleet, clock):
    kassa = fleet["kassa"]
    Device.update(registered_on=date(2025, 3, 4), firmware="3.9.1", comment="стенд").where(
        Device.id == kassa[1].id).execute()
    devtools.purge([kassa[1].id, kassa[2].id], person=fleet["admin"], telegram_id=DEV,
                   now=clock.now)
    audited = purged_details()
    assert sorted(audited) == [10, 11]
    assert audited[10] == {
        "device_number": 10, "device_name": "Касса 10", "serial": "SN-00010",
        "category": "Онлайн-касса", "registered_on": "2025-03-04", "firmware": "3.9.1",
        "comment": "стенд",
        "loans": [
            {"person_email": "u3@company.ru", "taken_at": "2026-11-06T09:00:00",
             "returned_at": "2026-11-07T09:00:00", "due_date": None, "place": "склад",
             "assigned_by": None},
            {"person_email": "u2@company.ru", "taken_at": "2026-11-17T09:00:00",
             "returned_at": "2026-11-18T09:00:00", "due_date": "2026-11-20", "place": "офис",
             "assigned_by": "dev@company.ru"},
        ],
        "queue": ["u3@company.ru", "u0@company.ru"],
    }
    assert audited[11]["loans"] == [] and audited[11]["queue"] == []
    assert audited[11]["registered_on"] is None
    rows = AuditLog.select().where(AuditLog.action == devtools.PURGED_DEVICE)
    assert {(a.actor_id, a.created_at) for a in rows} == {(fleet["admin"].id, clock.now)}


def test_purge_without_waiting_list_or_category(fleet, clock):
    scales = fleet["scales"]
    gone = devtools.purge([scales[1].id, scales[0].id], person=None, telegram_id=OTHER_DEV,
                          now=clock.now)
    assert [d.number for d in gone] == [3, 5]
    run = AuditLog.get(AuditLog.action == "dev.purge")
    assert run.actor_id is None and run.actor_telegram_id == OTHER_DEV
    assert json.loads(run.details) == {"category": None, "asked": 2, "deleted": 2,
                                       "numbers": [3, 5]}
    # Nothing free among the ids: nothing deleted, still audited.
    assert devtools.purge([scales[2].id], person=None, telegram_id=OTHER_DEV,
                          now=clock.now, waiting=[]) == []
    assert sorted(d.number for d in Device.select()) == [1, 10, 11, 12]


def test_purge_chooses_again_when_a_device_is_taken_meanwhile(fleet, clock, monkeypatch):
    kassa, users = fleet["kassa"], fleet["users"]
    history = devtools._history
    calls: list[list[int]] = []

    def history_then_take(ids: list[int]):
        """Read the history; the first time, take a chosen device as a racing take would."""
        calls.append(ids)
        found = history(ids)
        if len(calls) == 1:  # rolled back with the first attempt, so the retry finds it free
            Loan.create(device=kassa[2], person=users[2], taken_at=clock.now)
        return found

    monkeypatch.setattr(devtools, "_history", history_then_take)
    waiting: list[tuple[Person, Device]] = []
    gone = devtools.purge([kassa[1].id, kassa[2].id], person=None, telegram_id=DEV,
                          now=clock.now, waiting=waiting)
    assert len(calls) == 2
    assert [d.number for d in gone] == [10, 11]
    assert sorted(d.number for d in Device.select()) == [1, 3, 5, 12]
    # Only the attempt that went through tells anyone or audits anything.
    assert [(p.id, d.number) for p, d in waiting] == [(users[3].id, 10), (users[0].id, 10)]
    assert AuditLog.select().where(AuditLog.action == devtools.PURGED_DEVICE).count() == 2
    assert AuditLog.select().where(AuditLog.action == "dev.purge").count() == 1


def test_purge_gives_up_when_devices_keep_being_taken(fleet, clock, monkeypatch):
    kassa, users = fleet["kassa"], fleet["users"]
    history = devtools._history
    calls: list[list[int]] = []

    def history_then_take(ids: list[int]):
        """Each time, take the device as soon as it is chosen (rolled back with the try)."""
        calls.append(ids)
        found = history(ids)
        Loan.create(device=ids[0], person=users[2], taken_at=clock.now)
        return found

    monkeypatch.setattr(devtools, "_history", history_then_take)
    before = snapshot()
    with pytest.raises(Conflict) as caught:
        devtools.purge([kassa[2].id], person=None, telegram_id=DEV, now=clock.now)
    assert caught.value.details == {"reason": "devices keep being taken during the purge"}
    assert calls == [[kassa[2].id]] * 3
    assert changed(before) == {}
    assert AuditLog.select().where(AuditLog.action.in_(
        ["dev.purge", devtools.PURGED_DEVICE])).count() == 0


# --- dump and wipe -----------------------------------------------------------------------------


def test_dump_database_dumps_every_row(fleet, clock):
    dump = devtools.dump_database(clock.now)
    assert dump.counts["device"] == 6 and dump.counts["loan"] == 5
    assert dump.created_at == clock.now
    assert [c["name"] for c in backup.read_dump(dump.data).tables["category"]] == [
        "Весы", "Онлайн-касса", "Пустая"]


def test_dump_database_wraps_a_refusal(fleet, clock, monkeypatch):
    def refuse(database, now):
        raise pw.OperationalError("disk I/O error")

    monkeypatch.setattr(backup, "make_dump", refuse)
    with pytest.raises(devtools.DumpFailed, match="^disk I/O error$") as caught:
        devtools.dump_database(clock.now)
    assert isinstance(caught.value.__cause__, pw.OperationalError)


def test_wipe_database_empties_seeds_and_audits(fleet, clock):
    before = {m._meta.table_name: m.select().count() for m in MODELS}
    version, created = devtools.wipe_database(categories=("Сканер", "Весы", "Сканер"),
                                              telegram_id=DEV, now=clock.now)
    assert (version, created) == (LATEST_MIGRATION, 2)
    assert [c.name for c in Category.select().order_by(Category.id)] == ["Сканер", "Весы"]
    assert Device.select().count() == Loan.select().count() == Person.select().count() == 0
    (audit,) = AuditLog.select()
    assert (audit.action, audit.actor_id, audit.actor_telegram_id, audit.created_at) == (
        "dev.wipe", None, DEV, clock.now)
    assert json.loads(audit.details) == {"removed": before, "schema_version": LATEST_MIGRATION,
                                         "categories": 2}
