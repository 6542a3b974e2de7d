"""inventory/legacy*.py against mutants: every plan value, every write on its own rows only.

The plan (`inventory.legacy.build_plan`) is pure, so most cases here build the predecessor's
rows in Python and check the whole plan: every issue with all its values, every row, every
count. The writes (`inventory.legacy_apply`) run on several devices, people, loans and queue
entries, so a dropped or weakened WHERE clause changes rows the test names as untouched: the
switch-over must change only what it names. Reading (`inventory.legacy_read`) needs the
predecessor's PostgreSQL database (tests/legacy_db.py).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import legacy_db
import psycopg2
import pytest
from conftest import T0
from test_legacy_import import (
    CATEGORIES,
    DAMAGED_RECORDS,
    DAMAGED_RESOURCES,
    RECORD_COLUMNS,
    RECORDS,
    RESOURCE_COLUMNS,
    RESOURCES,
    VERSION,
    VISITOR_COLUMNS,
    VISITORS,
    local,
    record,
    utc,
)
from test_write_filters import changed, snapshot

from inventory import legacy_apply
from inventory.errors import Conflict
from inventory.legacy import (
    Admin,
    Existing,
    ExistingDevice,
    ExistingPerson,
    Issue,
    LoanRow,
    NewDevice,
    PersonRow,
    Plan,
    QueueRow,
    build_plan,
)
from inventory.legacy_read import (
    LegacyData,
    LegacyError,
    Record,
    Resource,
    Visitor,
    check_url,
    password_of,
    read_legacy,
    redact,
    safe_url,
)
from models import AuditLog, Device, Loan, Person, QueueEntry

MSK = ZoneInfo("Europe/Moscow")


def data(categories: list[str] = (), resources: list[tuple] = (), visitors: list[tuple] = (),
         records: list[tuple] = (), version: str = "") -> LegacyData:
    """The predecessor's rows in the order read_legacy returns them."""
    return LegacyData(
        categories=sorted(categories, key=lambda n: n.encode()),
        resources=sorted((Resource(*r) for r in resources), key=lambda r: r.id),
        visitors=sorted((Visitor(*v) for v in visitors),
                        key=lambda v: (v.id is None, v.id or 0, v.email)),
        records=sorted((Record(*r) for r in records), key=lambda r: r.id),
        version=version)


def full_data() -> LegacyData:
    """Every state of test_legacy_import.py's predecessor database."""
    return data(CATEGORIES, RESOURCES + DAMAGED_RESOURCES, VISITORS, RECORDS + DAMAGED_RECORDS,
                VERSION)


def plan_of(legacy: LegacyData, existing: Existing | None = None, *,
            email_domains: tuple[str, ...] = ()) -> Plan:
    return build_plan(legacy, existing or Existing(), tz=MSK, now=T0,
                      email_domains=email_domains)


def devtrack_now() -> Existing:
    """What test_legacy_import.py's `devtrack` fixture holds, as the plan sees it."""
    return Existing(
        categories={"онлайн-касса": "Онлайн-касса"},
        devices={10: ExistingDevice(1, "Старое имя", "SN-10", "Онлайн-касса"),
                 500: ExistingDevice(2, "Чужая касса", "dup-1", "Онлайн-касса")},
        serials={"sn-10": 10, "dup-1": 500},
        people={"other@company.ru": ExistingPerson(1, 999, None, "Другой", "", False)},
        telegram_ids={999: "other@company.ru"})


def issue(kind: str, **values: Any) -> Issue:
    return Issue(kind, values)


IVAN, PETR, ANNA, OLGA = "ivan@company.ru", "petr@company.ru", "anna@company.ru", "olga@company.ru"
FULL_ISSUES = [
    issue("category_merged", name="весы", kept="Весы"),
    issue("missing_category", name="Планшет"),
    issue("serial_taken", number=3, serial="DUP-1", other=500, new_serial="DUP-1 (№3)"),
    issue("future_registration", number=8, value=date(2027, 3, 1)),
    issue("device_differs", number=10, fields=["name"], name="Старое имя",
          legacy_name="Новое имя"),
    issue("email_invalid", email="bad-email"),
    issue("email_cases", emails=["Ivan@Company.ru", IVAN], email=IVAN),
    issue("telegram_id_taken", email="taken@company.ru", telegram_id=999,
          other="other@company.ru"),
    issue("missing_device", record=7, number=404, email=PETR),
    issue("missing_person", record=8, email="ghost@company.ru"),
    issue("finished_without_take", record=9, number=2, email=ANNA),
    issue("two_open_takes", number=4, email=IVAN, taken=local(2026, 11, 1, 10, 0), kept=PETR,
          until=local(2026, 11, 10, 10, 0)),
    issue("future_date", record=19, number=8, email=OLGA, column="take_date",
          value=local(2027, 1, 1, 10, 0)),
    issue("no_dates", record=20, number=9, email=PETR),
    issue("holder_queued", record=15, number=6, email=ANNA),
    issue("queue_duplicate", record=17, number=6, email=PETR),
    issue("free_with_queue", number=7),
    issue("free_with_queue", number=9),
    issue("no_return_date", record=5, number=2, email=IVAN, value=local(2026, 10, 5, 12, 0)),
    issue("returned_before_taken", record=6, number=2, email=ANNA),
]


def test_plan_of_every_state_in_full():
    """Every issue with all its values, every row, count, admin and the history start."""
    plan = plan_of(full_data(), devtrack_now())
    assert plan.issues == FULL_ISSUES
    assert plan.categories == ["Весы", "Сканер", "Планшет"]
    kassa = "Онлайн-касса"
    assert plan.devices == [
        NewDevice(1, "Эвотор 7.2", kassa, "SN-1", date(2024, 2, 1), "4.9", "с блоком"),
        NewDevice(2, "Весы ВМ", "Весы", "SN-2", None, "", ""),
        NewDevice(3, "Атол 30Ф", kassa, "DUP-1 (№3)", None, "", ""),
        NewDevice(4, "Сканер Honeywell", "Сканер", "SN-4", None, "", ""),
        NewDevice(5, "Планшет Samsung", "Планшет", "SN-5", None, "", ""),
        NewDevice(6, "Принтер", kassa, "SN-6", None, "", ""),
        NewDevice(7, "Терминал", kassa, "SN-7", None, "", ""),
        NewDevice(8, "Новые весы", "Весы", "SN-8", date(2027, 3, 1), "", ""),
        NewDevice(9, "Касса без дат", kassa, "SN-9", None, "", ""),
    ]
    assert plan.people == [
        PersonRow(ANNA, None, 333, "Анна"),
        PersonRow("bad-email", name="?"),
        PersonRow(IVAN, 111, 111, "Иван Петров", "ivan"),
        PersonRow(OLGA, name="Ольга"),
        PersonRow(PETR, 222, 222, "Пётр", "petr", "стажёр"),
        PersonRow("taken@company.ru", None, 999, "Дубль"),
        PersonRow("ghost@company.ru"),
    ]
    assert plan.person_updates == []
    assert plan.open_loans == [
        LoanRow(1, IVAN, utc(2026, 11, 20, 10, 0), date(2026, 12, 15), "Офис, 3 этаж",
                record_id=1),
        LoanRow(4, PETR, utc(2026, 11, 10, 10, 0), place="лаборатория", record_id=11),
        LoanRow(5, PETR, utc(2026, 11, 24, 15, 0), from_queue=True, record_id=12),
        LoanRow(6, ANNA, utc(2026, 11, 25, 10, 0), date(2026, 11, 28), "кухня", record_id=14),
        LoanRow(8, OLGA, T0, record_id=19),
    ]
    assert plan.queue == [
        QueueRow(5, ANNA, utc(2026, 11, 19, 10, 0), 13),
        QueueRow(1, ANNA, utc(2026, 11, 20, 12, 0), 3),
        QueueRow(1, PETR, utc(2026, 11, 21, 9, 0), 2),
        QueueRow(9, PETR, utc(2026, 11, 22, 10, 0), 20),
        QueueRow(6, PETR, utc(2026, 11, 23, 10, 0), 16),
        QueueRow(7, PETR, utc(2026, 11, 25, 10, 0), 18),
    ]
    assert plan.past_loans == [
        LoanRow(4, IVAN, utc(2026, 11, 1, 10, 0), place="дом",
                returned_at=utc(2026, 11, 10, 10, 0), record_id=10),
        LoanRow(2, PETR, utc(2026, 9, 1, 10, 0), place="склад",
                returned_at=utc(2026, 9, 10, 18, 0), record_id=4),
        LoanRow(2, IVAN, utc(2026, 10, 1, 10, 0), returned_at=utc(2026, 10, 5, 12, 0),
                record_id=5),
        LoanRow(2, ANNA, utc(2026, 10, 10, 10, 0), returned_at=utc(2026, 10, 10, 10, 0),
                record_id=6),
        LoanRow(2, "ghost@company.ru", utc(2026, 8, 20, 10, 0),
                returned_at=utc(2026, 8, 25, 10, 0), record_id=8),
        LoanRow(10, "taken@company.ru", utc(2026, 11, 2, 10, 0),
                returned_at=utc(2026, 11, 12, 10, 0), record_id=21),
    ]
    assert plan.admins == [Admin(IVAN, "Иван Петров", 111), Admin(OLGA, "Ольга", None)]
    assert plan.history_since == utc(2026, 8, 20, 10, 0)
    assert plan.counts == {"categories": [3, 1], "devices": [9, 1], "people": [7, 0],
                           "open_loans": [5, 0], "queue": [6, 0], "past_loans": [6, 0]}
    assert plan.version == VERSION
    assert plan.changes == 3 + 9 + 7 + 5 + 6 + 6
    assert plan.from_queue == [plan.open_loans[2]]


# --- writing: each statement on its own rows -------------------------------------------------


def audit_rows(action: str) -> list[tuple]:
    """(device id, person id, details) of one action's audit rows, in writing order."""
    rows = AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id)
    return [(row.device_id, row.person_id, json.loads(row.details)) for row in rows]


def test_apply_fills_in_only_the_people_it_names(backend, conn, seed):
    """Each person UPDATE changes its own row: the others, in devtrack or not, stay as they were."""
    lacking = seed.person(None, "lacking@company.ru", name="")
    gone = seed.person(402, "gone@company.ru", name="Ушла", username="gone")
    Person.update(deleted_at=T0, comment="уволена").where(Person.id == gone.id).execute()
    complete = seed.person(403, "complete@company.ru", name="Полный", username="full")
    Person.update(chat_id=403).where(Person.id == complete.id).execute()
    bystanders = [seed.person(404 + i, f"by{i}@company.ru", name="") for i in range(3)]
    before = snapshot()
    visitors = [
        (1, "Lacking@Company.ru", False, 501, 501, "Заполнена", "@filled", "не пишется", None),
        (2, "gone@company.ru", False, None, None, "Другое имя", None, None, None),
        (3, "complete@company.ru", False, 503, 403, "Иное", "other", None, None),
    ]
    outcome = legacy_apply.apply(data(visitors=visitors), tz=MSK, now=T0 + timedelta(hours=1))
    assert changed(before) == {"Person": {lacking.id, gone.id}}
    assert outcome.plan.changes == 2
    assert outcome.plan.person_updates == [  # complete@ lacked nothing: not written
        PersonRow("gone@company.ru", id=gone.id, restore=True),
        PersonRow("lacking@company.ru", 501, 501, "Заполнена", "filled", id=lacking.id),
    ]
    row = Person.get_by_id(lacking.id)
    assert (row.telegram_id, row.chat_id, row.name, row.username, row.comment) == (
        501, 501, "Заполнена", "filled", "")
    assert row.updated_at == T0 + timedelta(hours=1)
    row = Person.get_by_id(gone.id)
    assert (row.deleted_at, row.telegram_id, row.name, row.username, row.comment) == (
        None, 402, "Ушла", "gone", "уволена")
    assert Person.get_by_id(complete.id).updated_at == before["Person"][complete.id]["updated_at"]
    for bystander in bystanders:
        assert Person.get_by_id(bystander.id).telegram_id == bystander.telegram_id
    assert audit_rows("person.restored") == [
        (None, gone.id, {"source": "legacy", "person_email": "gone@company.ru",
                         "changes": ["deleted_at"]})]
    assert audit_rows("person.updated") == [
        (None, lacking.id, {"source": "legacy", "person_email": "lacking@company.ru",
                            "changes": ["chat_id", "name", "telegram_id", "username"]})]


def test_apply_ends_the_new_holders_wait_and_the_holds_on_that_device_only(backend, conn, seed):
    """The queue DELETE and hold UPDATE touch the taken device's entries and nothing else."""
    devices = [seed.device(number) for number in (11, 12, 13)]
    people = [seed.person(600 + i, f"p{i}@company.ru", name=f"П{i}") for i in range(4)]
    hold = T0 + timedelta(hours=5)
    entries = {}
    for (device, person, held) in [(0, 0, True), (0, 1, False), (0, 2, False), (0, 3, False),
                                   (1, 2, True), (1, 0, False), (2, 1, True), (2, 2, False)]:
        entries[device, person] = QueueEntry.create(
            device=devices[device], person=people[person], hold_until=hold if held else None,
            joined_at=T0 - timedelta(days=10 - device, hours=person))
    before = snapshot()
    resources = [(number, "Эвотор 7.2", "Онлайн-касса", f"SN-{number:05d}", None, None, None)
                 for number in (11, 12, 13)]
    visitors = [(i + 1, f"p{i}@company.ru", False, None, 600 + i, f"П{i}", None, None, None)
                for i in range(4)]
    records = [record(1, 11, "p2@company.ru", take=local(2026, 11, 25, 10, 0))]
    outcome = legacy_apply.apply(data(["Онлайн-касса"], resources, visitors, records),
                                 tz=MSK, now=T0)
    assert [(o.number, o.email) for o in outcome.plan.open_loans] == [(11, "p2@company.ru")]
    assert changed(before) == {
        "Loan": {Loan.get().id},
        "QueueEntry": {entries[0, 0].id, entries[0, 2].id},
    }
    left = {(q.device_id, q.person_id): q.hold_until for q in QueueEntry.select()}
    assert (devices[0].id, people[2].id) not in left  # the new holder's own wait ended
    assert left[devices[0].id, people[0].id] is None  # the hold on the taken device went back
    assert left[devices[1].id, people[2].id] == hold  # holds on other devices stay
    assert left[devices[2].id, people[1].id] == hold
    assert len(left) == 7
    assert QueueEntry.get_by_id(entries[0, 0].id).updated_at == T0
    assert audit_rows("hold.cleared") == [
        (devices[0].id, people[0].id, {"source": "legacy"})]


# --- reading the predecessor -----------------------------------------------------------------


@pytest.fixture
def legacy() -> str:
    """An empty predecessor database: this process's slot database (tests/legacy_db.py)."""
    return legacy_db.fresh()


def with_search_path(url: str, schema: str) -> str:
    """The same database seen through another schema (read_legacy reads current_schema())."""
    return f"{url}?options=-csearch_path%3D{schema}"


def run_sql(url: str, sql: str) -> None:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def test_read_returns_every_table_in_its_order(legacy):
    """Categories in byte order, devices, people and records by id; every migration marker."""
    legacy_db.insert(legacy, "alembic_version", ("version_num",), [("b2",), ("a1",)])
    legacy_db.insert(legacy, "category", ("name",), [("весы",), ("Весы",), ("Zebra",)])
    legacy_db.insert(legacy, "resource", RESOURCE_COLUMNS, [
        (9, "Девять", "Весы", "SN-9", local(2026, 1, 2, 3, 4), "1.0", "с"),
        (3, "Три", "весы", "SN-3", None, None, None)])
    legacy_db.insert(legacy, "visitor", VISITOR_COLUMNS, [
        (7, "b@company.ru", True, 70, 71, "Б", "b", "к", local(2026, 5, 6, 7, 8)),
        (2, "a@company.ru", False, None, None, None, None, None, None)])
    legacy_db.insert(legacy, "record", RECORD_COLUMNS, [
        record(5, 9, "b@company.ru", address="тут", take=local(2026, 11, 1, 10, 0),
               back=local(2026, 11, 2, 10, 0), finished=True),
        record(4, 3, "a@company.ru", enqueue=local(2026, 11, 3, 10, 0))])
    got = read_legacy(legacy)
    assert sorted(got.version.split(", ")) == ["a1", "b2"]
    assert got.categories == ["Zebra", "Весы", "весы"]
    assert got.resources == [Resource(3, "Три", "весы", "SN-3", None, None, None),
                             Resource(9, "Девять", "Весы", "SN-9", local(2026, 1, 2, 3, 4),
                                      "1.0", "с")]
    assert got.visitors == [
        Visitor(2, "a@company.ru", False, None, None, None, None, None, None),
        Visitor(7, "b@company.ru", True, 70, 71, "Б", "b", "к", local(2026, 5, 6, 7, 8))]
    assert got.records == [Record(*record(4, 3, "a@company.ru", enqueue=local(2026, 11, 3, 10, 0))),
                           Record(*record(5, 9, "b@company.ru", address="тут",
                                          take=local(2026, 11, 1, 10, 0),
                                          back=local(2026, 11, 2, 10, 0), finished=True))]


def test_read_without_a_migration_marker_or_without_tables(legacy):
    """No alembic_version: no version; a schema without the four tables names the missing."""
    run_sql(legacy, "CREATE SCHEMA IF NOT EXISTS partial; "
                    "CREATE TABLE IF NOT EXISTS partial.category (name varchar PRIMARY KEY); "
                    "CREATE TABLE IF NOT EXISTS partial.visitor (email varchar PRIMARY KEY)")
    with pytest.raises(LegacyError) as error:
        read_legacy(with_search_path(legacy, "partial"))
    assert str(error.value) == "not the predecessor bot's database: no table resource, record"
    with pytest.raises(LegacyError) as error:
        read_legacy(with_search_path(legacy, "nowhere"))
    assert str(error.value) == ("not the predecessor bot's database: no table category, "
                                "resource, visitor, record")
    run_sql(legacy, "CREATE SCHEMA IF NOT EXISTS nomarker; "
                    "CREATE TABLE IF NOT EXISTS nomarker.category (LIKE public.category); "
                    "CREATE TABLE IF NOT EXISTS nomarker.resource (LIKE public.resource); "
                    "CREATE TABLE IF NOT EXISTS nomarker.visitor (LIKE public.visitor); "
                    "CREATE TABLE IF NOT EXISTS nomarker.record (LIKE public.record)")
    legacy_db.insert(legacy, "alembic_version", ("version_num",), [("c3",)])
    got = read_legacy(with_search_path(legacy, "nomarker"))
    assert got == LegacyData()
    assert read_legacy(legacy).version == "c3"


class Spy:
    """psycopg2.connect recording its arguments; the connection records set_session/close."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple, dict]] = []
        self.sessions: list[dict] = []
        self.connection: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        spy, real = self, REAL_CONNECT(*args, **kwargs)

        class Connection:
            def set_session(self, **session: Any) -> None:
                spy.sessions.append(session)
                real.set_session(**session)

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        self.connection = real
        return Connection()


REAL_CONNECT = psycopg2.connect


def test_read_is_one_read_only_snapshot_with_a_connect_timeout(legacy, monkeypatch):
    """The predecessor is never written: read only, REPEATABLE READ, closed afterwards."""
    spy = Spy()
    monkeypatch.setattr(psycopg2, "connect", spy)
    read_legacy(legacy)
    assert spy.calls == [((legacy,), {"connect_timeout": 15,
                                      "application_name": "devtrack-import-legacy"})]
    assert spy.sessions == [{"readonly": True, "isolation_level":
                             psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ}]
    assert spy.connection.closed


def test_read_errors_name_the_database_without_its_password(legacy):
    """Connecting and reading fail with one line that has the URL with *** for the password."""
    host = urlparse(legacy).hostname
    url = f"postgresql://someone:p%40ss%2Fw0rd@{host}:1/zoo"
    with pytest.raises(LegacyError) as error:
        read_legacy(url)
    text = str(error.value)
    assert text.startswith(f"cannot connect to postgresql://someone:***@{host}:1/zoo: ")
    assert "port 1 failed" in text  # the driver's own first line
    assert "p@ss/w0rd" not in text and "p%40ss" not in text and "\n" not in text
    run_sql(legacy, "CREATE SCHEMA IF NOT EXISTS broken; "
                    "CREATE TABLE IF NOT EXISTS broken.category (name varchar); "
                    "CREATE TABLE IF NOT EXISTS broken.resource (id integer); "
                    "CREATE TABLE IF NOT EXISTS broken.visitor (email varchar); "
                    "CREATE TABLE IF NOT EXISTS broken.record (id integer)")
    broken = with_search_path(legacy, "broken")
    with pytest.raises(LegacyError) as error:
        read_legacy(broken)
    assert str(error.value).startswith(f"cannot read {broken}: column ")
    assert "\n" not in str(error.value)


def test_urls_are_checked_and_their_passwords_hidden():
    """check_url, safe_url, password_of and redact on URLs with and without a password."""
    for good in ("postgresql://u:pw@h:5432/db", "postgres://h/db", "postgresql:///db",
                 "postgresql://h/X"):
        check_url(good)
    for bad in ("mysql://u:pw@h/db", "postgresql://u:pw@h:5432/", "postgresql://h", "db",
                "postgresql://u:pw@[bad/db"):
        with pytest.raises(LegacyError) as error:
            check_url(bad)
        assert str(error.value) == ("expected postgresql://user:password@host:5432/database, "
                                    f"got {safe_url(bad)!r}")
    assert str(pytest.raises(LegacyError, check_url, "mysql://u:pw@h/db").value).endswith(
        "got 'mysql://u:***@h/db'")
    assert safe_url("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert safe_url("postgresql://u:a@b@h/db") == "postgresql://u:***@h/db"
    assert safe_url("postgresql://u%40x:pa:ss@h:5/db") == "postgresql://u%40x:***@h:5/db"
    assert safe_url("postgresql://:pw@h/db") == "postgresql://:***@h/db"
    assert safe_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert safe_url("postgresql://h/db") == "postgresql://h/db"
    assert safe_url("postgresql://u:pw@[::1/db") == "postgresql://***@[::1/db"
    assert password_of("postgresql://u:p%40ss@h/db") == "p@ss"
    assert password_of("postgresql://u@h/db") == ""
    assert password_of("postgresql://u:pw@[::1/db") == ""
    url = "postgresql://u:p%40ss@h/db"
    assert redact("p@ss and p%40ss and pass", url) == "*** and *** and pass"
    assert redact("pw here", "no url pw") == "pw here"
    assert redact("p@ss XXXX ***", "postgresql://u@h/db") == "p@ss XXXX ***"


# --- the plan, rule by rule ------------------------------------------------------------------


def test_names_are_collapsed_clipped_and_defaulted():
    """Spaces collapse, long values are cut to the column, blank names get «—» or «№N»."""
    legacy = data(
        categories=["  Весы   ВМ ", "К" * 150, "   ", "весы вм"],
        resources=[
            (1, "  Эвотор   7.2 ", "  Весы   ВМ ", "  SN   1 ", None, " 4.9 ", "  с блоком  "),
            (2, "   ", "К" * 150, "S" * 250, None, "F" * 250, None),
            (3, None, "   ", None, None, None, None),
            (4, "Н" * 250, "Нет в списке", "№3", None, None, ""),
            (5, "Пять", None, "SN-5", None, None, None),
            (6, "Шесть", "весы вм", "SN-6", None, None, None),
            (7, "Семь", "Нет в списке", "SN-7", None, None, None),
            (8, "Восемь", "Ещё одна", "SN-8", None, None, None),
        ])
    plan = plan_of(legacy, Existing(categories={"к" * 100: "К" * 100}))
    assert plan.issues == [
        issue("category_merged", name="весы вм", kept="Весы ВМ"),
        issue("missing_category", name="Нет в списке"),
        issue("missing_category", name=None),
        issue("category_merged", name=None, kept="—"),
        issue("missing_category", name="Ещё одна"),
        issue("serial_empty", number=3, serial="№3"),
        issue("serial_taken", number=4, serial="№3", other=3, new_serial="№3 (№4)"),
    ]
    assert plan.categories == ["—", "Весы ВМ", "Нет в списке", "Ещё одна"]
    assert plan.devices == [
        NewDevice(1, "Эвотор 7.2", "Весы ВМ", "SN 1", None, "4.9", "с блоком"),
        NewDevice(2, "№2", "К" * 100, "S" * 200, None, "F" * 200, ""),
        NewDevice(3, "№3", "—", "№3", None, "", ""),
        NewDevice(4, "Н" * 200, "Нет в списке", "№3 (№4)", None, "", ""),
        NewDevice(5, "Пять", "—", "SN-5", None, "", ""),
        NewDevice(6, "Шесть", "Весы ВМ", "SN-6", None, "", ""),
        NewDevice(7, "Семь", "Нет в списке", "SN-7", None, "", ""),
        NewDevice(8, "Восемь", "Ещё одна", "SN-8", None, "", ""),
    ]
    assert plan.counts["categories"] == [4, 1] and plan.counts["devices"] == [8, 0]


def test_serials_taken_get_the_number_and_devices_are_compared():
    """A serial devtrack has gets « (№N)», then « (№N-2)», ...; known devices are compared."""
    existing = Existing(
        categories={"касса": "Касса"},
        devices={20: ExistingDevice(1, "Двадцать", "ABC", "Касса"),
                 21: ExistingDevice(2, "Двадцать один", "abc (№1)", "касса"),
                 22: ExistingDevice(3, "Двадцать два", "x", "Касса")},
        serials={"abc": 20, "abc (№1)": 21, "abc (№1-2)": 22, "l" * 188 + " (№3)": 22})
    legacy = data(["Касса", "Весы"], [
        (1, "Один", "Касса", "ABC", None, None, None),
        (2, "Два", "Касса", "L" * 200, None, None, None),
        (3, "Три", "Касса", "l" * 200, None, None, None),
        (20, "Двадцать", "касса", "abc", None, None, None),
        (21, "Двадцать один", "Весы", "ABC (№1)", None, None, None),
        (22, "Другое", "Весы", "y", None, None, None),
        (30, "Тридцать", "Касса", "SN-30", local(2026, 11, 27, 0, 0), None, None),
        (31, "Тридцать один", "Касса", "SN-31", local(2026, 11, 28, 0, 0), None, None),
    ])
    # 22:00 UTC is already 27 November in Moscow: a device registered that day is not "future".
    plan = build_plan(legacy, existing, tz=MSK, now=datetime(2026, 11, 26, 22, 0))
    long_serial = "l" * 184 + " (№3-2)"
    assert plan.issues == [
        issue("missing_category", name="касса"),
        issue("category_merged", name="касса", kept="Касса"),
        issue("serial_taken", number=1, serial="ABC", other=20, new_serial="ABC (№1-3)"),
        issue("serial_taken", number=3, serial="l" * 200, other=2, new_serial=long_serial),
        issue("device_differs", number=21, fields=["category"], name="Двадцать один",
              legacy_name="Двадцать один"),
        issue("device_differs", number=22, fields=["name", "serial", "category"],
              name="Двадцать два", legacy_name="Другое"),
        issue("future_registration", number=31, value=date(2026, 11, 28)),
    ]
    assert [(d.number, d.serial, d.registered_on) for d in plan.devices] == [
        (1, "ABC (№1-3)", None), (2, "L" * 200, None), (3, long_serial, None),
        (30, "SN-30", date(2026, 11, 27)), (31, "SN-31", date(2026, 11, 28))]
    assert plan.categories == ["Весы"]
    assert plan.counts["categories"] == [1, 1] and plan.counts["devices"] == [5, 3]


def test_people_spellings_ids_and_fill_ins():
    """One person per email: best-ranked spelling first, ids claimed once, gaps filled in."""
    existing = Existing(
        people={"keep@x.ru": ExistingPerson(1, 5, None, "", "", False),
                "full@x.ru": ExistingPerson(2, 7, 70, "Полный", "full", False),
                "other@x.ru": ExistingPerson(3, 8, None, "Другой", "other", True)},
        telegram_ids={5: "keep@x.ru", 7: "full@x.ru", 8: "other@x.ru"})
    visitors = [
        (1, "A@x.ru", False, None, 1, "  ", None, "  ", local(2026, 1, 1, 0, 0)),
        (2, "a@x.ru", True, 20, 2, "Анна", "@" + "u" * 70, "к1", local(2026, 2, 1, 0, 0)),
        (3, " a@X.ru ", False, 30, None, "Другая", "other", "к2", local(2026, 3, 1, 0, 0)),
        (4, "b@y.ru", False, None, 6, None, "  @bee ", None, None),
        (5, "c@x.ru", False, None, 6, "Це", "@@" + "v" * 70, None, None),
        (6, "keep@x.ru", False, 50, 5, "Кип", "kip", None, None),
        (7, "full@x.ru", False, 71, 9, "Иной", "x", None, None),
        (8, "other@x.ru", True, 80, None, None, None, None, None),
        (9, "new@x.ru", False, None, 8, "Н", None, None, None),
        (10, "d@x.ru", False, None, None, None, None, None, local(2026, 5, 1, 0, 0)),
        (11, "D@x.ru", False, None, None, "Дэ", "@Xenia", None, local(2026, 4, 1, 0, 0)),
        (12, "e@x.ru", False, None, None, "Я" * 250, None, None, None),
    ]
    plan = plan_of(data(visitors=visitors), existing, email_domains=("x.ru",))
    assert plan.issues == [
        issue("email_cases", emails=["a@x.ru", "A@x.ru", " a@X.ru "], email="a@x.ru"),
        issue("telegram_ids_differ", email="a@x.ru", ids=[2, 1], kept=2),
        issue("email_domain", email="b@y.ru"),
        issue("telegram_id_taken", email="c@x.ru", telegram_id=6, other="b@y.ru"),
        issue("email_cases", emails=["d@x.ru", "D@x.ru"], email="d@x.ru"),
        issue("telegram_id_differs", email="full@x.ru", telegram_id=9, ours=7),
        issue("telegram_id_taken", email="new@x.ru", telegram_id=8, other="other@x.ru"),
        issue("person_restored", email="other@x.ru"),
    ]
    assert plan.people == [
        PersonRow("a@x.ru", 2, 20, "Анна", "u" * 64, "к1"),
        PersonRow("b@y.ru", 6, None, "", "bee"),
        PersonRow("c@x.ru", None, None, "Це", "v" * 63),
        PersonRow("d@x.ru", None, None, "Дэ", "Xenia"),
        PersonRow("e@x.ru", None, None, "Я" * 200),
        PersonRow("new@x.ru", None, None, "Н"),
    ]
    assert plan.person_updates == [
        PersonRow("keep@x.ru", None, 50, "Кип", "kip", id=1),
        PersonRow("other@x.ru", None, 80, id=3, restore=True),
    ]
    assert plan.admins == [Admin("a@x.ru", "Анна", 2), Admin("other@x.ru", "", None)]
    assert plan.counts["people"] == [6, 3]


def test_records_against_a_devtrack_in_use():
    """Holders, gifts from the queue, duplicates, future dates and what devtrack already has."""
    existing = Existing(
        categories={"касса": "Касса"},
        devices={n: ExistingDevice(n, f"Д{n}", f"SN-{n}", "Касса") for n in (1, 2, 3)},
        serials={f"sn-{n}": n for n in (1, 2, 3)},
        people={"a@x.ru": ExistingPerson(1, None, None, "А", "", False),
                "z@x.ru": ExistingPerson(2, None, None, "Зет", "", False)},
        open_loans={1: ("a@x.ru", utc(2026, 11, 1, 10, 0)),
                    2: ("z@x.ru", utc(2026, 11, 2, 10, 0))},
        loans={(1, "a@x.ru", utc(2026, 11, 1, 10, 0)), (2, "z@x.ru", utc(2026, 11, 2, 10, 0)),
               (4, "b@x.ru", utc(2026, 11, 5, 10, 0)), (6, "a@x.ru", utc(2026, 5, 1, 10, 0))},
        queue={(3, "a@x.ru"), (8, "b@x.ru")})
    resources = [(n, f"Д{n}", "Касса", f"SN-{n}", None, None, None) for n in range(1, 13)]
    visitors = [(1, "a@x.ru", False, None, None, "А", None, None, None),
                (2, "B@x.ru", False, None, None, "Б", None, None, None),
                (3, "c@x.ru", False, None, None, "Ц", None, None, None)]
    created = local(2026, 11, 20, 10, 0)
    records = [
        record(1, 1, "a@x.ru", take=local(2026, 11, 1, 10, 0)),  # devtrack has this loan
        record(2, 2, "b@x.ru", take=local(2026, 11, 3, 10, 0), address="  " + "м" * 200),
        record(3, 4, "B@x.ru", take=local(2026, 11, 5, 10, 0)),  # imported, returned since
        record(4, 5, "c@x.ru", take=local(2026, 11, 20, 10, 10), created=created),
        record(5, 6, "c@x.ru", take=local(2026, 11, 20, 10, 11), created=created,
               address="м" * 201),
        record(6, 7, "c@x.ru", take=local(2026, 11, 20, 10, 11), created=created,
               back=local(2026, 12, 1, 0, 0)),
        record(7, 7, "C@X.RU", enqueue=local(2026, 11, 26, 12, 30)),  # in the future
        record(8, 7, "b@x.ru", enqueue=local(2026, 11, 20, 9, 0)),
        record(9, 7, "new@x.ru", enqueue=local(2026, 11, 20, 9, 0)),
        record(10, 7, "NEW@x.ru", enqueue=local(2026, 11, 20, 9, 0)),
        record(11, 9, "a@x.ru", take=local(2026, 11, 27, 10, 0), address="м" * 201),
        record(12, 9, "b@x.ru", take=local(2026, 11, 27, 11, 0)),
        record(13, 9, "c@x.ru", take=local(2026, 11, 27, 11, 0)),
        (14, 3, "z@x.ru", None, None, None, None, False, local(2026, 11, 22, 10, 0), None),
        record(15, 6, "a@x.ru", take=local(2026, 5, 1, 10, 0), back=local(2026, 5, 2, 10, 0),
               finished=True),
        record(16, 6, "b@x.ru", take=local(2026, 7, 3, 10, 0), finished=True),
        record(17, 6, "b@x.ru", take=local(2026, 7, 3, 10, 0), back=local(2026, 7, 4, 10, 0),
               finished=True),
        record(18, 8, "c@x.ru", take=local(2026, 6, 1, 10, 0), back=local(2027, 1, 1, 0, 0),
               finished=True),
        record(19, 3, "a@x.ru", enqueue=local(2026, 11, 10, 9, 0)),
        record(20, 11, "c@x.ru", take=local(2026, 12, 1, 10, 0), back=local(2026, 12, 2, 10, 0),
               finished=True),
        (21, 12, "a@x.ru", "п" * 205, None, local(2026, 8, 1, 10, 0), None, True, None, None),
        record(22, 8, "a@x.ru", enqueue=local(2026, 11, 26, 12, 0)),  # exactly now
        record(23, 10, "b@x.ru", enqueue=local(2026, 11, 10, 9, 0),
               take=local(2026, 11, 11, 9, 0), back=local(2026, 12, 1, 0, 0)),
    ]
    plan = plan_of(data(["Касса"], resources, visitors, records), existing)
    future = "future_date"
    assert plan.issues == [
        issue("missing_person", record=9, email="new@x.ru"),
        issue("missing_person", record=14, email="z@x.ru"),
        issue("holder_differs", number=2, email="b@x.ru", ours="z@x.ru"),
        issue("place_cut", number=6, limit=200),
        issue("two_open_takes", number=9, email="a@x.ru", taken=local(2026, 11, 27, 10, 0),
              kept="c@x.ru", until=local(2026, 11, 27, 11, 0)),
        issue(future, record=11, number=9, email="a@x.ru", column="take_date",
              value=local(2026, 11, 27, 10, 0)),
        issue("two_open_takes", number=9, email="b@x.ru", taken=local(2026, 11, 27, 11, 0),
              kept="c@x.ru", until=local(2026, 11, 27, 11, 0)),
        issue(future, record=12, number=9, email="b@x.ru", column="take_date",
              value=local(2026, 11, 27, 11, 0)),
        issue(future, record=13, number=9, email="c@x.ru", column="take_date",
              value=local(2026, 11, 27, 11, 0)),
        issue(future, record=7, number=7, email="C@X.RU", column="enqueue_date",
              value=local(2026, 11, 26, 12, 30)),
        issue("no_dates", record=14, number=3, email="z@x.ru"),
        issue("queue_duplicate", record=10, number=7, email="new@x.ru"),
        issue("holder_queued", record=7, number=7, email="c@x.ru"),
        issue("free_with_queue", number=3),
        issue("free_with_queue", number=8),
        issue("no_return_date", record=16, number=6, email="b@x.ru",
              value=local(2026, 7, 3, 10, 0)),
        issue("loan_duplicate", record=17, number=6, email="b@x.ru"),
        issue(future, record=18, number=8, email="c@x.ru", column="return_date",
              value=local(2027, 1, 1, 0, 0)),
        issue(future, record=20, number=11, email="c@x.ru", column="take_date",
              value=local(2026, 12, 1, 10, 0)),
        issue(future, record=20, number=11, email="c@x.ru", column="return_date",
              value=local(2026, 12, 2, 10, 0)),
        issue("no_return_date", record=21, number=12, email="a@x.ru",
              value=local(2026, 8, 1, 10, 0)),
    ]
    assert plan.people == [PersonRow("b@x.ru", name="Б"), PersonRow("c@x.ru", name="Ц"),
                           PersonRow("new@x.ru")]
    assert plan.open_loans == [
        LoanRow(5, "c@x.ru", utc(2026, 11, 20, 10, 10), record_id=4),  # 10 minutes: a take
        LoanRow(6, "c@x.ru", utc(2026, 11, 20, 10, 11), place="м" * 200, from_queue=True,
                record_id=5),
        LoanRow(7, "c@x.ru", utc(2026, 11, 20, 10, 11), date(2026, 12, 1), record_id=6),
        LoanRow(9, "c@x.ru", T0, record_id=13),
        LoanRow(10, "b@x.ru", utc(2026, 11, 11, 9, 0), date(2026, 12, 1), from_queue=True,
                record_id=23),  # it had waited in the queue: enqueue_date kept
    ]
    assert plan.queue == [
        QueueRow(7, "b@x.ru", utc(2026, 11, 20, 9, 0), 8),
        QueueRow(7, "new@x.ru", utc(2026, 11, 20, 9, 0), 9),
        QueueRow(3, "z@x.ru", utc(2026, 11, 22, 10, 0), 14),
        QueueRow(8, "a@x.ru", T0, 22),
    ]
    assert plan.past_loans == [
        LoanRow(9, "a@x.ru", T0, place="м" * 200, returned_at=utc(2026, 11, 27, 11, 0),
                record_id=11),
        LoanRow(9, "b@x.ru", T0, returned_at=utc(2026, 11, 27, 11, 0), record_id=12),
        LoanRow(6, "b@x.ru", utc(2026, 7, 3, 10, 0), returned_at=utc(2026, 7, 3, 10, 0),
                record_id=16),
        LoanRow(8, "c@x.ru", utc(2026, 6, 1, 10, 0), returned_at=T0, record_id=18),
        LoanRow(11, "c@x.ru", T0, returned_at=T0, record_id=20),
        LoanRow(12, "a@x.ru", utc(2026, 8, 1, 10, 0), place="п" * 200,
                returned_at=utc(2026, 8, 1, 10, 0), record_id=21),
    ]
    assert plan.history_since == utc(2026, 5, 1, 10, 0)  # devtrack's loans count too
    assert plan.counts == {"categories": [0, 1], "devices": [9, 3], "people": [3, 2],
                           "open_loans": [5, 3], "queue": [4, 1], "past_loans": [6, 1]}


def test_existing_state_keys_devtrack_for_matching(backend, conn, seed, clock):
    """Categories, devices, serials, people, ids, open and past loans and the queue, exactly."""
    from inventory import loans

    one = seed.device(31, "Один", serial="Ser-A")
    two = seed.device(32, "Два", serial="SER-b", category="Весы")
    three = seed.device(33, "Три", serial="c")
    anna = seed.person(701, "anna@x.ru", name="Анна", username="anna")
    petr = seed.person(None, "petr@x.ru", name="Пётр")
    gone = seed.person(703, "gone@x.ru", name="")
    Person.update(deleted_at=T0, chat_id=7030).where(Person.id == gone.id).execute()
    taken = clock.now
    loans.take(one.id, anna, now=taken)
    loans.take(two.id, petr, now=taken - timedelta(days=3))
    loans.return_device(two.id, petr, now=taken - timedelta(days=1))
    loans.take(two.id, anna, now=taken - timedelta(hours=2))
    loans.take(three.id, petr, now=taken - timedelta(days=2))  # returned since: 33 is free
    loans.return_device(three.id, petr, now=taken - timedelta(hours=5))
    QueueEntry.create(device=one, person=petr, joined_at=taken)
    QueueEntry.create(device=two, person=gone, joined_at=taken)
    state = legacy_apply.existing_state()
    assert state.categories == {"онлайн-касса": "Онлайн-касса", "весы": "Весы"}
    assert state.devices == {31: ExistingDevice(one.id, "Один", "Ser-A", "Онлайн-касса"),
                             32: ExistingDevice(two.id, "Два", "SER-b", "Весы"),
                             33: ExistingDevice(three.id, "Три", "c", "Онлайн-касса")}
    assert state.serials == {"ser-a": 31, "ser-b": 32, "c": 33}
    assert state.people == {
        "anna@x.ru": ExistingPerson(anna.id, 701, None, "Анна", "anna", False),
        "petr@x.ru": ExistingPerson(petr.id, None, None, "Пётр", "", False),
        "gone@x.ru": ExistingPerson(gone.id, 703, 7030, "", "", True)}
    assert state.telegram_ids == {701: "anna@x.ru", 703: "gone@x.ru"}
    assert state.open_loans == {31: ("anna@x.ru", taken),
                                32: ("anna@x.ru", taken - timedelta(hours=2))}
    assert state.loans == {(31, "anna@x.ru", taken), (32, "petr@x.ru", taken - timedelta(days=3)),
                           (32, "anna@x.ru", taken - timedelta(hours=2)),
                           (33, "petr@x.ru", taken - timedelta(days=2))}
    assert state.queue == {(31, "petr@x.ru"), (32, "gone@x.ru")}


def small_predecessor() -> LegacyData:
    """Two categories, three devices, three people, an open loan, a queue, a history."""
    resources = [(41, "Сорок один", "Касса", "SN-41", None, None, None),
                 (42, "Сорок два", "Весы", "SN-42", None, None, None),
                 (43, "Сорок три", "Касса", "SN-43", None, None, None)]
    visitors = [(1, "a@x.ru", False, 11, 11, "А", None, None, None),
                (2, "b@x.ru", False, None, None, "Б", None, None, None),
                (3, "c@x.ru", False, None, 13, "Ц", None, None, None)]
    records = [
        record(1, 41, "a@x.ru", take=local(2026, 11, 20, 10, 0), back=local(2026, 12, 1, 0, 0),
               address="стол"),
        record(2, 41, "b@x.ru", enqueue=local(2026, 11, 21, 10, 0)),
        record(3, 42, "c@x.ru", enqueue=local(2026, 11, 22, 10, 0)),
        record(4, 42, "a@x.ru", take=local(2026, 10, 1, 10, 0), back=local(2026, 10, 2, 10, 0),
               finished=True),
        record(5, 42, "b@x.ru", take=local(2026, 10, 3, 10, 0), back=local(2026, 10, 4, 10, 0),
               finished=True),
        record(6, 43, "c@x.ru", take=local(2026, 9, 1, 10, 0), back=local(2026, 9, 2, 10, 0),
               finished=True),
    ]
    return data(["Касса", "Весы"], resources, visitors, records)


def test_apply_writes_one_audit_entry_per_row_naming_it(backend, conn, seed):
    """Each audit entry names its own device, person and values (source: legacy)."""
    seed.device(40, "Сорок", serial="SN-40", category="Касса")  # not in the predecessor
    now = T0 + timedelta(minutes=5)
    legacy_apply.apply(small_predecessor(), tz=MSK, now=now)
    dev = {d.number: d.id for d in Device.select()}
    who = {p.email: p.id for p in Person.select()}
    assert audit_rows("category.created") == [(None, None, {"source": "legacy",
                                                            "category": "Весы"})]
    assert audit_rows("device.created") == [
        (dev[n], None, {"source": "legacy", "device_number": n, "device_name": name})
        for n, name in ((41, "Сорок один"), (42, "Сорок два"), (43, "Сорок три"))]
    assert audit_rows("person.created") == [
        (None, who[email], {"source": "legacy", "person_email": email, "telegram_id": tid})
        for email, tid in (("a@x.ru", 11), ("b@x.ru", None), ("c@x.ru", 13))]
    assert audit_rows("loan.taken") == [(dev[41], who["a@x.ru"], {
        "source": "legacy", "device_number": 41, "person_email": "a@x.ru",
        "taken_at": "2026-11-20T07:00:00", "due_date": "2026-12-01", "place": "стол",
        "from_queue": False, "legacy_record": 1})]
    assert audit_rows("queue.joined") == [
        (dev[41], who["b@x.ru"], {"source": "legacy", "device_number": 41,
                                  "person_email": "b@x.ru", "joined_at": "2026-11-21T07:00:00",
                                  "legacy_record": 2}),
        (dev[42], who["c@x.ru"], {"source": "legacy", "device_number": 42,
                                  "person_email": "c@x.ru", "joined_at": "2026-11-22T07:00:00",
                                  "legacy_record": 3})]
    assert audit_rows("history.imported") == [
        (dev[42], None, {"source": "legacy", "device_number": 42, "loans": 2}),
        (dev[43], None, {"source": "legacy", "device_number": 43, "loans": 1})]
    assert audit_rows("legacy.imported") == [(None, None, {
        "source": "legacy", "categories": 1, "devices": 3, "people": 3, "open_loans": 1,
        "queue": 2, "past_loans": 3, "issues": 1, "from_queue": 0})]
    assert {e.created_at for e in AuditLog.select()} == {now}
    rows = sorted((loan.device_id, loan.person_id, loan.taken_at, loan.due_date, loan.place,
                   loan.returned_at, loan.created_at) for loan in Loan.select())
    assert rows == sorted([
        (dev[41], who["a@x.ru"], utc(2026, 11, 20, 10, 0), date(2026, 12, 1), "стол", None, now),
        (dev[42], who["a@x.ru"], utc(2026, 10, 1, 10, 0), None, "", utc(2026, 10, 2, 10, 0), now),
        (dev[42], who["b@x.ru"], utc(2026, 10, 3, 10, 0), None, "", utc(2026, 10, 4, 10, 0), now),
        (dev[43], who["c@x.ru"], utc(2026, 9, 1, 10, 0), None, "", utc(2026, 9, 2, 10, 0), now),
    ])
    assert sorted((q.device_id, q.person_id, q.joined_at, q.hold_until, q.created_at)
                  for q in QueueEntry.select()) == [
        (dev[41], who["b@x.ru"], utc(2026, 11, 21, 10, 0), None, now),
        (dev[42], who["c@x.ru"], utc(2026, 11, 22, 10, 0), None, now)]
    assert [(p.email, p.telegram_id, p.chat_id, p.name, p.reachable, p.created_at)
            for p in Person.select().order_by(Person.email)] == [
        ("a@x.ru", 11, 11, "А", True, now), ("b@x.ru", None, None, "Б", True, now),
        ("c@x.ru", 13, None, "Ц", True, now)]
    assert [(d.number, d.category.name, d.search_text != "", d.created_at)
            for d in Device.select().order_by(Device.number)][1:] == [
        (41, "Касса", True, now), (42, "Весы", True, now), (43, "Касса", True, now)]


def test_apply_that_loses_a_race_writes_nothing_and_says_conflict(backend, conn, seed,
                                                                  monkeypatch):
    """A person registered between planning and writing: Conflict, and no row is written."""
    seed.person(None, "b@x.ru", name="Б")
    before = snapshot()
    monkeypatch.setattr(legacy_apply, "existing_state", lambda: Existing())
    with pytest.raises(Conflict) as error:
        legacy_apply.apply(small_predecessor(), tz=MSK, now=T0)
    assert error.value.details["field"] == "legacy"
    assert 0 < len(error.value.details["value"]) <= 200
    assert changed(before) == {}
    assert AuditLog.select().count() == 0


def test_dry_run_plans_against_devtrack_and_writes_nothing(backend, conn, seed):
    """The dry run's plan is the apply's, with email_domains passed on; nothing is written."""
    seed.person(None, "b@x.ru", name="Б")
    before = snapshot()
    outcome = legacy_apply.dry_run(small_predecessor(), tz=MSK, now=T0,
                                   email_domains=("y.ru",))
    assert not outcome.applied and changed(before) == {}
    assert outcome.plan.counts["people"] == [2, 1]
    assert [i.kind for i in outcome.plan.issues] == ["email_domain"] * 3 + ["free_with_queue"]
    outcome = legacy_apply.apply(small_predecessor(), tz=MSK, now=T0)
    assert outcome.applied and [i.kind for i in outcome.plan.issues] == ["free_with_queue"]


def test_holders_are_planned_in_device_number_order():
    """Open loans and their issues go by device number, whatever order the records came in."""
    resources = [(n, f"Д{n}", "Касса", f"SN-{n}", None, None, None) for n in (3, 8)]
    visitors = [(1, "a@x.ru", False, None, None, "А", None, None, None),
                (2, "b@x.ru", False, None, None, "Б", None, None, None)]
    records = [record(1, 8, "a@x.ru", take=local(2026, 11, 1, 10, 0)),
               record(2, 8, "b@x.ru", take=local(2026, 11, 2, 10, 0)),
               record(3, 3, "b@x.ru", take=local(2026, 11, 3, 10, 0)),
               record(4, 3, "a@x.ru", take=local(2026, 11, 4, 10, 0))]
    plan = plan_of(data(["Касса"], resources, visitors, records))
    assert [(o.number, o.email) for o in plan.open_loans] == [(3, "a@x.ru"), (8, "b@x.ru")]
    assert [(i.kind, i.values["number"]) for i in plan.issues] == [("two_open_takes", 3),
                                                                   ("two_open_takes", 8)]
    assert [(p.number, p.email) for p in plan.past_loans] == [(3, "b@x.ru"), (8, "a@x.ru")]


def test_the_plan_does_not_depend_on_the_servers_time_zone(monkeypatch):
    """Dates and times go through the configured zone only, never the machine's local one."""
    import time

    legacy = data(["Касса"], [
        (1, "Один", "Касса", "SN-1", local(2026, 11, 26, 0, 0), None, None),
        (2, "Два", "Касса", "SN-2", local(2026, 11, 27, 0, 0), None, None)],
        [(1, "a@x.ru", False, None, None, "А", None, None, None)],
        [record(1, 1, "a@x.ru", take=local(2026, 11, 26, 23, 0))])
    now = datetime(2026, 11, 26, 20, 30)  # 23:30 on 26 November in Moscow
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        plan = build_plan(legacy, Existing(), tz=MSK, now=now)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert plan.issues == [issue("future_registration", number=2, value=date(2026, 11, 27))]
    assert plan.open_loans == [LoanRow(1, "a@x.ru", datetime(2026, 11, 26, 20, 0),
                                       record_id=1)]


def test_a_queue_record_without_any_date_joins_now_in_utc():
    """No enqueue_date and no created_at: the entry joins at the run's moment, not 3 h early."""
    resources = [(1, "Касса", "Касса", "SN1", None, None, None)]
    visitors = [(1, "a@x.ru", False, None, None, "А", None, None, None),
                (2, "b@x.ru", False, None, None, "Б", None, None, None)]
    records = [(1, 1, "a@x.ru", None, None, local(2026, 11, 20, 9, 0), None, False, None, None),
               (2, 1, "b@x.ru", None, None, None, None, False, None, None)]
    plan = plan_of(data(["Касса"], resources, visitors, records))
    assert [(q.number, q.email, q.joined_at) for q in plan.queue] == [(1, "b@x.ru", T0)]
    assert issue("no_dates", record=2, number=1, email="b@x.ru") in plan.issues
