"""Switch-over from the predecessor bot: its schema in a separate PostgreSQL database, every state
of its notes (and the conflicts), dry run, apply, idempotence, atomicity, the CLI and /dev."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

import legacy_db
import pytest
from conftest import DEV_ID, T0

from handlers import texts
from inventory import audit, legacy_apply
from inventory.legacy_read import LegacyError, read_legacy
from jobs import import_legacy
from models import MODELS, AuditLog, Category, Device, Loan, Person, QueueEntry
from notices.legacy_report import issue_line

pytestmark = pytest.mark.postgres
MSK = ZoneInfo("Europe/Moscow")
PASSWORD = "s3cr3t-Pw"


@pytest.fixture
def legacy() -> str:
    """An empty predecessor database: this process's slot database (tests/legacy_db.py)."""
    return legacy_db.fresh()


def local(*args: int) -> datetime:
    """A naive local (Moscow) timestamp as the predecessor wrote it."""
    return datetime(*args)


def utc(*args: int) -> datetime:
    """The same moment as devtrack stores it (Moscow is UTC+3 all year)."""
    moment = datetime(*args).replace(tzinfo=MSK)
    return moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


RECORD_COLUMNS = ("id", "resource_id", "user_email", "address", "enqueue_date", "take_date",
                  "return_date", "finished", "created_at", "updated_at")


def record(rid: int, number: int, email: str, *, address: str | None = None,
           enqueue: datetime | None = None, take: datetime | None = None,
           back: datetime | None = None, finished: bool = False,
           created: datetime | None = None, updated: datetime | None = None) -> tuple:
    """One `record` row; created_at defaults to the first date it has."""
    created = created or enqueue or take or local(2026, 11, 1, 8, 0)
    return (rid, number, email, address, enqueue, take, back, finished, created,
            updated or created)


CATEGORIES = ["Онлайн-касса", "Весы", "весы", "Сканер"]
RESOURCE_COLUMNS = ("id", "name", "category_name", "vendor_code", "reg_date", "firmware",
                    "comment")
RESOURCES = [
    (1, "Эвотор 7.2", "Онлайн-касса", "SN-1", local(2024, 2, 1, 0, 0), "4.9", "с блоком"),
    (2, "Весы ВМ", "весы", "SN-2", None, None, None),
    (3, "Атол 30Ф", "Онлайн-касса", "DUP-1", None, None, None),  # devtrack's №500 has it
    (4, "Сканер Honeywell", "Сканер", "SN-4", None, None, None),
    (6, "Принтер", "Онлайн-касса", "SN-6", None, None, None),
    (7, "Терминал", "Онлайн-касса", "SN-7", None, None, None),
    (8, "Новые весы", "Весы", "SN-8", local(2027, 3, 1, 0, 0), None, None),
    (9, "Касса без дат", "Онлайн-касса", "SN-9", None, None, None),
    (10, "Новое имя", "Онлайн-касса", "SN-10", None, None, None),  # devtrack has №10
]
# A category the category table lacks: only a damaged database has it.
DAMAGED_RESOURCES = [(5, "Планшет Samsung", "Планшет", "SN-5", None, None, None)]
VISITOR_COLUMNS = ("id", "email", "is_admin", "chat_id", "user_id", "full_name", "username",
                   "comment", "updated_at")
VISITORS = [
    (1, "Ivan@Company.ru", True, 111, 111, "Иван Петров", "ivan", None, local(2026, 11, 1, 9, 0)),
    (2, "ivan@company.ru", False, None, None, "Иван", None, None, local(2026, 10, 1, 9, 0)),
    (3, "petr@company.ru", False, 222, 222, "Пётр", "@petr", "стажёр", None),
    (4, "anna@company.ru", False, 333, None, "Анна", None, None, None),
    (5, "olga@company.ru", True, None, None, "Ольга", None, None, None),
    (6, "taken@company.ru", False, 999, 999, "Дубль", None, None, None),
    (7, "bad-email", False, None, None, "?", None, None, None),
]
RECORDS = [
    # №1: held by Ivan (typed in another case), two people queue in enqueue_date order.
    record(1, 1, "Ivan@Company.ru", address="Офис, 3 этаж", take=local(2026, 11, 20, 10, 0),
           back=local(2026, 12, 15, 0, 0)),
    record(2, 1, "petr@company.ru", enqueue=local(2026, 11, 21, 9, 0)),
    record(3, 1, "anna@company.ru", enqueue=local(2026, 11, 20, 12, 0)),
    # №2: free, with history: a normal one, no return date, a return before the take.
    record(4, 2, "petr@company.ru", address="склад", take=local(2026, 9, 1, 10, 0),
           back=local(2026, 9, 10, 18, 0), finished=True),
    record(5, 2, "ivan@company.ru", take=local(2026, 10, 1, 10, 0), finished=True,
           updated=local(2026, 10, 5, 12, 0)),
    record(6, 2, "anna@company.ru", take=local(2026, 10, 10, 10, 0),
           back=local(2026, 10, 9, 10, 0), finished=True),
    # A finished queue wait: "not expected", nothing to import.
    record(9, 2, "anna@company.ru", enqueue=local(2026, 11, 1, 9, 0), finished=True),
    # №4: two open takes; the later one holds.
    record(10, 4, "ivan@company.ru", address="дом", take=local(2026, 11, 1, 10, 0),
           back=local(2026, 11, 30, 0, 0)),
    record(11, 4, "petr@company.ru", address="лаборатория", take=local(2026, 11, 10, 10, 0)),
    # №5: given to the first in its queue on a return (the row was a queue entry before).
    record(12, 5, "petr@company.ru", take=local(2026, 11, 24, 15, 0),
           created=local(2026, 11, 18, 10, 0)),
    record(13, 5, "anna@company.ru", enqueue=local(2026, 11, 19, 10, 0)),
    # №6: the holder also waits for it; Petr waits twice.
    record(14, 6, "anna@company.ru", address="кухня", take=local(2026, 11, 25, 10, 0),
           back=local(2026, 11, 28, 0, 0)),
    record(15, 6, "anna@company.ru", enqueue=local(2026, 11, 22, 0, 0)),
    record(16, 6, "petr@company.ru", enqueue=local(2026, 11, 23, 10, 0)),
    record(17, 6, "petr@company.ru", enqueue=local(2026, 11, 24, 10, 0)),
    # №7: nobody holds it but Petr waits.
    record(18, 7, "petr@company.ru", enqueue=local(2026, 11, 25, 10, 0)),
    # №8: taken "in the future".
    record(19, 8, "olga@company.ru", take=local(2027, 1, 1, 10, 0)),
    # №9: a row with no dates at all.
    record(20, 9, "petr@company.ru", created=local(2026, 11, 22, 10, 0)),
    # №10 (already in devtrack): history of a person whose Telegram id devtrack gave away.
    record(21, 10, "taken@company.ru", take=local(2026, 11, 2, 10, 0),
           back=local(2026, 11, 12, 10, 0), finished=True),
]
# Rows a damaged database holds: a device and a person that do not exist.
DAMAGED_RECORDS = [
    record(7, 404, "petr@company.ru", take=local(2026, 11, 1, 10, 0)),
    record(8, 2, "ghost@company.ru", take=local(2026, 8, 20, 10, 0),
           back=local(2026, 8, 25, 10, 0), finished=True),
]
VERSION = "9f1c2a7b"


def fill_predecessor(url: str) -> None:
    """Every state the schema notes describe, including the conflicts."""
    legacy_db.insert(url, "alembic_version", ("version_num",), [(VERSION,)])
    legacy_db.insert(url, "category", ("name",), [(name,) for name in CATEGORIES])
    legacy_db.insert(url, "resource", RESOURCE_COLUMNS, RESOURCES)
    legacy_db.insert(url, "resource", RESOURCE_COLUMNS, DAMAGED_RESOURCES, skip_foreign_keys=True)
    legacy_db.insert(url, "visitor", VISITOR_COLUMNS, VISITORS)
    legacy_db.insert(url, "record", RECORD_COLUMNS, RECORDS)
    legacy_db.insert(url, "record", RECORD_COLUMNS, DAMAGED_RECORDS, skip_foreign_keys=True)


@pytest.fixture
def devtrack(seed):
    """What devtrack holds before the switch-over."""
    seed.device(10, "Старое имя", serial="SN-10")
    seed.device(500, "Чужая касса", serial="dup-1")
    return seed.person(999, "other@company.ru", name="Другой")


@pytest.fixture
def filled(legacy: str, devtrack) -> str:
    """The predecessor database with every state, next to a devtrack with a little in it."""
    fill_predecessor(legacy)
    return legacy


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every devtrack table."""
    return {m._meta.table_name: sorted(m.select().tuples(), key=repr) for m in MODELS}


def devices() -> list[tuple]:
    return sorted((d.number, d.name, d.category.name, d.serial, d.registered_on, d.firmware,
                   d.comment) for d in Device.select())


def people() -> list[tuple]:
    return sorted((p.email, p.telegram_id, p.chat_id, p.name, p.username, p.comment,
                   p.deleted_at) for p in Person.select())


def loans() -> list[tuple]:
    return sorted(((loan.device.number, loan.person.email, loan.taken_at, loan.due_date,
                    loan.place, loan.returned_at) for loan in Loan.select()), key=repr)


def queue() -> list[tuple]:
    """Queue entries per device in devtrack's queue order (joined_at, id)."""
    rows = QueueEntry.select().order_by(QueueEntry.joined_at, QueueEntry.id)
    return sorted(((q.device.number, q.person.email, q.joined_at, q.hold_until) for q in rows),
                  key=lambda r: r[0])


EXPECTED_DEVICES = [
    (1, "Эвотор 7.2", "Онлайн-касса", "SN-1", date(2024, 2, 1), "4.9", "с блоком"),
    (2, "Весы ВМ", "Весы", "SN-2", None, "", ""),
    (3, "Атол 30Ф", "Онлайн-касса", "DUP-1 (№3)", None, "", ""),
    (4, "Сканер Honeywell", "Сканер", "SN-4", None, "", ""),
    (5, "Планшет Samsung", "Планшет", "SN-5", None, "", ""),
    (6, "Принтер", "Онлайн-касса", "SN-6", None, "", ""),
    (7, "Терминал", "Онлайн-касса", "SN-7", None, "", ""),
    (8, "Новые весы", "Весы", "SN-8", date(2027, 3, 1), "", ""),
    (9, "Касса без дат", "Онлайн-касса", "SN-9", None, "", ""),
    (10, "Старое имя", "Онлайн-касса", "SN-10", None, "", ""),  # devtrack's values kept
    (500, "Чужая касса", "Онлайн-касса", "dup-1", None, "", ""),
]
EXPECTED_PEOPLE = [
    ("anna@company.ru", None, 333, "Анна", "", "", None),
    ("bad-email", None, None, "?", "", "", None),
    ("ghost@company.ru", None, None, "", "", "", None),
    ("ivan@company.ru", 111, 111, "Иван Петров", "ivan", "", None),
    ("olga@company.ru", None, None, "Ольга", "", "", None),
    ("other@company.ru", 999, None, "Другой", "", "", None),
    ("petr@company.ru", 222, 222, "Пётр", "petr", "стажёр", None),
    ("taken@company.ru", None, 999, "Дубль", "", "", None),
]
EXPECTED_LOANS = sorted([
    (1, "ivan@company.ru", utc(2026, 11, 20, 10, 0), date(2026, 12, 15), "Офис, 3 этаж", None),
    (2, "petr@company.ru", utc(2026, 9, 1, 10, 0), None, "склад", utc(2026, 9, 10, 18, 0)),
    (2, "ivan@company.ru", utc(2026, 10, 1, 10, 0), None, "", utc(2026, 10, 5, 12, 0)),
    (2, "anna@company.ru", utc(2026, 10, 10, 10, 0), None, "", utc(2026, 10, 10, 10, 0)),
    (2, "ghost@company.ru", utc(2026, 8, 20, 10, 0), None, "", utc(2026, 8, 25, 10, 0)),
    (4, "ivan@company.ru", utc(2026, 11, 1, 10, 0), None, "дом", utc(2026, 11, 10, 10, 0)),
    (4, "petr@company.ru", utc(2026, 11, 10, 10, 0), None, "лаборатория", None),
    (5, "petr@company.ru", utc(2026, 11, 24, 15, 0), None, "", None),
    (6, "anna@company.ru", utc(2026, 11, 25, 10, 0), date(2026, 11, 28), "кухня", None),
    (8, "olga@company.ru", T0, None, "", None),
    (10, "taken@company.ru", utc(2026, 11, 2, 10, 0), None, "", utc(2026, 11, 12, 10, 0)),
], key=repr)
EXPECTED_QUEUE = [
    (1, "anna@company.ru", utc(2026, 11, 20, 12, 0), None),
    (1, "petr@company.ru", utc(2026, 11, 21, 9, 0), None),
    (5, "anna@company.ru", utc(2026, 11, 19, 10, 0), None),
    (6, "petr@company.ru", utc(2026, 11, 23, 10, 0), None),
    (7, "petr@company.ru", utc(2026, 11, 25, 10, 0), None),
    (9, "petr@company.ru", utc(2026, 11, 22, 10, 0), None),
]
EXPECTED_ISSUES = sorted([
    ("category_merged", "весы"), ("missing_category", "Планшет"),
    ("serial_taken", 3), ("future_registration", 8), ("device_differs", 10),
    ("email_invalid", "bad-email"), ("email_cases", "ivan@company.ru"),
    ("telegram_id_taken", "taken@company.ru"),
    ("missing_device", 7), ("missing_person", 8), ("finished_without_take", 9),
    ("two_open_takes", 4), ("future_date", 19),
    ("no_dates", 20), ("holder_queued", 15), ("queue_duplicate", 17),
    ("free_with_queue", 7), ("free_with_queue", 9),
    ("no_return_date", 5), ("returned_before_taken", 6),
], key=repr)
EXPECTED_COUNTS = {"categories": [3, 1], "devices": [9, 1], "people": [7, 0],
                   "open_loans": [5, 0], "queue": [6, 0], "past_loans": [6, 0]}


def issue_keys(plan) -> list[tuple]:
    """(kind, what it is about) of every issue: the record, else the device, email or name."""
    keys = []
    for issue in plan.issues:
        values = issue.values
        about = next(values[k] for k in ("record", "number", "email", "name") if k in values)
        keys.append((issue.kind, about))
    return sorted(keys, key=repr)


def run_import(url: str, apply: bool):
    legacy = read_legacy(url)
    job = legacy_apply.apply if apply else legacy_apply.dry_run
    return job(legacy, tz=MSK, now=T0)


# --- dry run and apply -----------------------------------------------------------------------


def test_dry_run_reports_every_conflict_and_writes_nothing(backend, conn, filled):
    before = snapshot()
    outcome = run_import(filled, apply=False)
    assert snapshot() == before
    assert not outcome.applied
    plan = outcome.plan
    assert issue_keys(plan) == EXPECTED_ISSUES
    assert plan.counts == EXPECTED_COUNTS
    assert [(loan.number, loan.email) for loan in plan.from_queue] == [(5, "petr@company.ru")]
    assert [(a.email, a.telegram_id) for a in plan.admins] == [("ivan@company.ru", 111),
                                                              ("olga@company.ru", None)]
    assert plan.version == "9f1c2a7b"


def test_apply_writes_every_row_as_expected(backend, conn, filled):
    outcome = run_import(filled, apply=True)
    assert outcome.applied and issue_keys(outcome.plan) == EXPECTED_ISSUES
    assert devices() == EXPECTED_DEVICES
    assert people() == EXPECTED_PEOPLE
    assert loans() == EXPECTED_LOANS
    assert queue() == EXPECTED_QUEUE
    assert sorted(c.name for c in Category.select()) == ["Весы", "Онлайн-касса", "Планшет",
                                                         "Сканер"]


def test_apply_marks_every_audit_entry_it_writes_as_imported(backend, conn, filled):
    run_import(filled, apply=True)
    entries = list(AuditLog.select().order_by(AuditLog.id))
    assert entries and all('"source": "legacy"' in e.details for e in entries)
    actions = Counter(e.action for e in entries)
    assert actions == {"category.created": 3, "device.created": 9, "person.created": 7,
                       "loan.taken": 5, "queue.joined": 6, "history.imported": 3,
                       "legacy.imported": 1}
    assert all(e.actor_id is None for e in entries)


def test_imported_rows_follow_devtrack_rules(backend, conn, filled):
    from inventory import queue as queue_domain

    run_import(filled, apply=True)
    open_per_device = Counter(loan.device_id for loan in
                              Loan.select().where(Loan.returned_at.is_null()))
    assert max(open_per_device.values()) == 1
    device = Device.get(Device.number == 1)
    anna, petr = (Person.get(Person.email == e) for e in ("anna@company.ru", "petr@company.ru"))
    assert queue_domain.position(device.id, anna.id, T0) == 1
    assert queue_domain.position(device.id, petr.id, T0) == 2
    # A free device with a queue is held for its first in line by the bot's next check.
    offers = queue_domain.expire_holds(T0)
    assert sorted(o.device.number for o in offers) == [7, 9]


def test_second_apply_changes_nothing(backend, conn, filled):
    run_import(filled, apply=True)
    after_first = snapshot()
    outcome = run_import(filled, apply=True)
    assert snapshot() == after_first
    assert outcome.plan.changes == 0
    assert outcome.plan.counts == {kind: [0, new + old] for kind, (new, old)
                                   in EXPECTED_COUNTS.items()}


def fail_at_queue(monkeypatch) -> None:
    """Writing the queue fails: categories, devices, people and open loans are in by then."""
    real = legacy_apply.insert_rows

    def insert_rows(model, columns, values):
        if model is QueueEntry:
            raise RuntimeError("connection lost")
        return real(model, columns, values)

    monkeypatch.setattr(legacy_apply, "insert_rows", insert_rows)


def fail_at_audit(monkeypatch) -> None:
    """The audit entries are written last, after every other row."""
    def broken(rows):
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "record_many", broken)


@pytest.mark.parametrize("inject", [fail_at_queue, fail_at_audit])
def test_a_failure_in_the_middle_writes_nothing(backend, conn, filled, monkeypatch, inject):
    before = snapshot()
    inject(monkeypatch)
    with pytest.raises(RuntimeError):
        run_import(filled, apply=True)
    assert snapshot() == before
    monkeypatch.undo()
    run_import(filled, apply=True)
    assert devices() == EXPECTED_DEVICES


def test_matching_is_by_number_and_case_insensitive_email(backend, conn, legacy, seed):
    kept = seed.person(None, "anna@company.ru", name="")
    legacy_db.insert(legacy, "category", ("name",), [("Весы",)])
    legacy_db.insert(legacy, "resource", ("id", "name", "category_name", "vendor_code"),
                     [(1, "Весы", "Весы", "SN-1")])
    legacy_db.insert(legacy, "visitor", ("email", "is_admin", "chat_id", "user_id", "full_name"),
                     [("Anna@Company.RU", False, 333, 333, "Анна")])
    outcome = run_import(legacy, apply=True)
    assert outcome.plan.counts["people"] == [0, 1]
    assert people() == [("anna@company.ru", 333, 333, "Анна", "", "", None)]
    assert Person.get_by_id(kept.id).telegram_id == 333


# --- the report, the command line and /dev ---------------------------------------------------


def with_password(url: str) -> str:
    """The same database with a password in the URL (the test server trusts local users)."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{PASSWORD}@{host}"


def cli(database, *args: str) -> int:
    env = {"DATABASE_URL": database.url, "TIMEZONE": "Europe/Moscow"}
    return import_legacy.main(list(args), env, now=T0)


def test_cli_dry_run_prints_counts_conflicts_and_admins(backend, database, conn, filled,
                                                        capsys):
    before = snapshot()
    assert cli(database, with_password(filled)) == 0
    out = capsys.readouterr().out
    assert snapshot() == before
    assert out.startswith(texts.LEGACY_TITLE_DRY)
    assert PASSWORD not in out and ":***@" in out
    assert texts.LEGACY_COUNT.format(title=texts.LEGACY_COUNT_TITLES["devices"], total=10,
                                     new=9, existing=1) in out
    plan = run_import(filled, apply=False).plan
    for issue in plan.issues:
        assert issue_line(issue.kind, issue.values) in out
    assert texts.LEGACY_ISSUES["serial_taken"].format(
        number=3, serial="DUP-1", other=500, new_serial="DUP-1 (№3)") in out
    assert texts.LEGACY_FROM_QUEUE_LINE.format(number=5, email="petr@company.ru",
                                               taken="24.11.2026 15:00") in out
    assert texts.LEGACY_ADMIN_IDS.format(ids="111") in out
    assert texts.LEGACY_HISTORY_SINCE.format(date="20.08.2026") in out


def test_cli_apply_then_again(backend, database, conn, filled, capsys, tmp_path):
    saved = tmp_path / "switch.txt"
    assert cli(database, filled, "--apply", "--report", str(saved)) == 0
    out = capsys.readouterr().out
    assert out.startswith(texts.LEGACY_TITLE_APPLIED)
    assert saved.read_text(encoding="utf-8") == out
    assert loans() == EXPECTED_LOANS
    assert cli(database, filled, "--apply") == 0
    assert capsys.readouterr().out.startswith(texts.LEGACY_TITLE_NOTHING)
    assert loans() == EXPECTED_LOANS


def test_cli_reads_timezone_option(database, conn, legacy, capsys):
    legacy_db.insert(legacy, "category", ("name",), [("Весы",)])
    legacy_db.insert(legacy, "resource", ("id", "name", "category_name", "vendor_code"),
                     [(1, "Весы", "Весы", "SN-1")])
    legacy_db.insert(legacy, "visitor", ("email", "is_admin"), [("a@company.ru", False)])
    legacy_db.insert(legacy, "record", RECORD_COLUMNS,
                     [record(1, 1, "a@company.ru", take=local(2026, 11, 20, 10, 0))])
    assert cli(database, legacy, "--apply", "--timezone", "Asia/Yekaterinburg") == 0
    assert Loan.get().taken_at == datetime(2026, 11, 20, 5, 0)  # UTC+5


def test_cli_failures_are_one_line_without_the_password(database, conn, legacy, capsys):
    unreachable = f"postgresql://someone:{PASSWORD}@127.0.0.1:1/zoo"
    assert cli(database, unreachable) == 1
    err = capsys.readouterr().err
    assert PASSWORD not in err and len(err.strip().splitlines()) == 1
    assert "cannot connect" in err
    # A database without the predecessor's tables: the one the slot databases sit next to.
    assert cli(database, legacy_db.BASE_URL) == 1
    assert "not the predecessor" in capsys.readouterr().err
    assert cli(database, legacy, "--timezone", "Mars/Base") == 1
    assert "Mars/Base" in capsys.readouterr().err
    assert cli(database) == 1
    assert "LEGACY_DATABASE_URL" in capsys.readouterr().err
    with pytest.raises(LegacyError):
        read_legacy("mysql://x/y")


@pytest.fixture
def developer(seed):
    """The developer, registered."""
    return seed.person(DEV_ID, "dev@company.ru", name="Разработчик")


def test_dev_button_sends_the_dry_run_report_as_a_file(make_harness, sender, filled, developer):
    bot = make_harness(legacy_database_url=with_password(filled))
    bot.send(DEV_ID, "/dev")
    before = snapshot()
    assert sender.last(DEV_ID).button(texts.BTN_DEV_LEGACY)
    bot.press(DEV_ID, "dev:legacy")
    ((name, data),) = [c.files["document"] for c in sender.of("sendDocument")]
    report = data.decode("utf-8")
    assert name.endswith(".txt") and report.startswith(texts.LEGACY_TITLE_DRY)
    assert PASSWORD not in report and PASSWORD not in repr(sender.of("sendMessage"))
    assert texts.LEGACY_ADMIN_IDS.format(ids="111") in report
    # The press itself refreshes the developer's Telegram name and writes the audit entry.
    changed = ("auditlog", "person")
    assert {k: v for k, v in snapshot().items() if k not in changed} == {
        k: v for k, v in before.items() if k not in changed}
    assert Person.select().count() == len(before["person"])
    assert AuditLog.select().where(AuditLog.action == "dev.legacy_dry_run").count() == 1


def test_dev_button_without_url_explains_the_setting(harness, sender, developer):
    harness.press(DEV_ID, "dev:legacy")
    assert sender.last(DEV_ID).text == texts.DEV_LEGACY_NO_URL
    assert not sender.of("sendDocument")


# --- a devtrack already in use ---------------------------------------------------------------


@pytest.fixture
def in_use(seed, legacy):
    """devtrack with a holder, a hold, a deleted person and a registered one; a predecessor
    that disagrees with each."""
    x = seed.person(300, "x@company.ru", name="Икс")
    anna = seed.person(301, "anna@company.ru", name="Анна")
    petr = seed.person(302, "petr@company.ru", name="Пётр")
    gone = seed.person(None, "deleted@company.ru", name="Ушедший")
    Person.update(deleted_at=T0).where(Person.id == gone.id).execute()
    seed.person(555, "tg@company.ru", name="Тэ")
    one, two = seed.device(1, "Касса 1", serial="SN-1"), seed.device(2, "Касса 2", serial="SN-2")
    seed.loan(one, x)
    QueueEntry.create(device=two, person=anna, joined_at=utc(2026, 11, 1, 9, 0),
                      hold_until=T0 + (T0 - utc(2026, 11, 26, 0, 0)))
    QueueEntry.create(device=two, person=petr, joined_at=utc(2026, 11, 2, 9, 0))

    legacy_db.insert(legacy, "category", ("name",), [("Онлайн-касса",)])
    legacy_db.insert(legacy, "resource", ("id", "name", "category_name", "vendor_code"), [
        (1, "Касса 1", "Онлайн-касса", "SN-1"), (2, "Касса 2", "Онлайн-касса", "SN-2"),
        (3, "Касса 3", "Онлайн-касса", "  ")])
    legacy_db.insert(legacy, "visitor", ("id", "email", "is_admin", "chat_id", "user_id",
                                         "full_name", "updated_at"), [
        (1, "A@other.org", False, 700, 700, "А", local(2026, 11, 2, 9, 0)),
        (2, "a@other.org", False, 701, 701, "а", local(2026, 11, 1, 9, 0)),
        (3, "deleted@company.ru", False, None, None, "Ушедший", None),
        (4, "tg@company.ru", False, 556, 556, "Тэ", None),
        (5, "petr@company.ru", False, 302, 302, "Пётр", None),
        (6, "anna@company.ru", False, 301, 301, "Анна", None),
    ])
    legacy_db.insert(legacy, "record", RECORD_COLUMNS, [
        record(1, 1, "deleted@company.ru", take=local(2026, 11, 20, 10, 0)),
        record(2, 2, "petr@company.ru", address="а" * 250, take=local(2026, 11, 25, 10, 0)),
        record(3, 3, "tg@company.ru", take=local(2026, 10, 1, 10, 0),
               back=local(2026, 10, 2, 10, 0), finished=True),
        record(4, 3, "tg@company.ru", take=local(2026, 10, 1, 10, 0),
               back=local(2026, 10, 2, 10, 0), finished=True),
    ])
    # The email of a known person in another case (only a damaged database has it).
    legacy_db.insert(legacy, "record", RECORD_COLUMNS, [
        record(5, 3, "TG@Company.ru", take=local(2026, 10, 5, 10, 0),
               back=local(2026, 10, 6, 10, 0), finished=True)], skip_foreign_keys=True)
    return legacy


def test_conflicts_with_a_devtrack_in_use(backend, conn, in_use):
    outcome = legacy_apply.apply(read_legacy(in_use), tz=MSK, now=T0,
                                 email_domains=("company.ru",))
    assert issue_keys(outcome.plan) == sorted([
        ("serial_empty", 3), ("email_cases", "a@other.org"), ("email_domain", "a@other.org"),
        ("telegram_ids_differ", "a@other.org"), ("person_restored", "deleted@company.ru"),
        ("telegram_id_differs", "tg@company.ru"), ("holder_differs", 1), ("place_cut", 2),
        ("loan_duplicate", 4),
    ], key=repr)
    assert [(d[0], d[3]) for d in devices()] == [(1, "SN-1"), (2, "SN-2"), (3, "№3")]
    by_email = {p[0]: p for p in people()}
    assert by_email["a@other.org"][1:3] == (700, 700)
    assert by_email["deleted@company.ru"][6] is None  # restored
    assert by_email["tg@company.ru"][1] == 555  # devtrack's id kept
    assert [(row[0], row[1], row[5]) for row in loans()] == [
        (1, "x@company.ru", None),  # devtrack's holder kept
        (2, "petr@company.ru", None),
        (3, "tg@company.ru", utc(2026, 10, 2, 10, 0)),  # once, not twice
        (3, "tg@company.ru", utc(2026, 10, 6, 10, 0)),  # "TG@Company.ru" is the same person
    ]
    assert Loan.get(Loan.place != "").place == "а" * 200
    # Petr got the device: his own wait ended; Anna's hold went back to waiting in line.
    assert queue() == [(2, "anna@company.ru", utc(2026, 11, 1, 9, 0), None)]
    cleared = AuditLog.get(AuditLog.action == "hold.cleared")
    assert cleared.person.email == "anna@company.ru" and '"source": "legacy"' in cleared.details
    again = legacy_apply.apply(read_legacy(in_use), tz=MSK, now=T0,
                               email_domains=("company.ru",))
    assert again.plan.changes == 0


def test_legacy_url_is_validated_and_its_password_kept_out_of_logs(config, tmp_path, capsys,
                                                                   restore_logging):
    from dataclasses import replace

    from bot import setup_logging
    from config import ConfigError, load_config

    with pytest.raises(ConfigError) as err:
        load_config({"LEGACY_DATABASE_URL": "mysql://old/zoo"}, require_token=False)
    assert any(p.startswith("LEGACY_DATABASE_URL") for p in err.value.problems)
    url = f"postgresql://bot:{PASSWORD}@old-host:5432/zoo"
    assert load_config({"LEGACY_DATABASE_URL": url},
                       require_token=False).legacy_database_url == url
    assert PASSWORD not in repr(replace(config, legacy_database_url=url))

    import logging

    setup_logging(replace(config, legacy_database_url=url, log_file=str(tmp_path / "bot.log")))
    logging.getLogger("devtrack.test").error("connecting to %s", url)
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = (tmp_path / "bot.log").read_text(encoding="utf-8")
    assert "connecting to" in written and PASSWORD not in written
    assert PASSWORD not in capsys.readouterr().out
