"""inventory/legacy*.py against mutants: every plan value, every write on its own rows only.

The plan (`inventory.legacy.build_plan`) is pure, so most cases here build the predecessor's
rows in Python and check the whole plan: every issue with all its values, every row, every
count. The writes (`inventory.legacy_apply`) run on several devices, people, loans and queue
entries, so a dropped or weakened WHERE clause changes rows the test names as untouched; the
import must change only what it names. Reading (`inventory.legacy_read`) needs the
predecessor's PostgreSQL database (tests/legacy_db.py).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from conftest import T0
from test_legacy_import import (
    CATEGORIES,
    DAMAGED_RECORDS,
    DAMAGED_RESOURCES,
    RECORDS,
    RESOURCES,
    VERSION,
    VISITORS,
    local,
    record,
    utc,
)
from test_write_filters import changed, snapshot

from inventory import legacy_apply
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
from inventory.legacy_read import LegacyData, Record, Resource, Visitor
from models import AuditLog, Loan, Person, QueueEntry

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
