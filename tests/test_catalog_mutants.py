"""inventory/catalog.py against mutants: validation limits, every write on its own device only.

Each write runs among several devices, categories, loans and queue entries, so a dropped or
weakened WHERE clause, a lost exclusion of the device itself or a changed audit detail fails
(see docs/mutation.md).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import peewee as pw
import pytest
from conftest import ADMIN_ID
from test_write_filters import changed, snapshot

from inventory import catalog, loans
from inventory.errors import Conflict, InvalidValue, NotAllowed, NotFound
from models import AuditLog, Category, Device, Loan, Person, QueueEntry

TODAY = date(2026, 12, 1)
VALUES = {"number": 49, "name": "Эвотор 7.2", "category": "Онлайн-касса", "serial": "ZN-1",
          "registered_on": date(2024, 2, 1), "firmware": "4.9", "comment": "с блоком"}


@pytest.fixture
def admin(seed: Any, backend: str) -> Person:
    """An admin, with two more devices in two categories around the one under test."""
    seed.device(10, "Атол 91Ф", serial="AT-10", category="Фискальный накопитель")
    seed.device(20, "Меркурий", serial="ME-20", category="Онлайн-касса")
    return seed.person(ADMIN_ID, "admin@company.ru", name="Админ")


def details(action: str) -> list[dict[str, Any]]:
    """The details of every audit entry of one action, oldest first."""
    return [json.loads(a.details) for a in
            AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id)]


# --- validation ------------------------------------------------------------------------------


def test_text_limits_are_inclusive_and_spaces_fold_except_in_comments(admin: Person) -> None:
    """The limit itself is accepted, one more is refused with the limit named."""
    assert catalog.parse_field("name", "n" * 200, today=TODAY) == "n" * 200
    assert catalog.parse_field("firmware", "f" * 200, today=TODAY) == "f" * 200
    assert catalog.parse_field("comment", "c" * 1000, today=TODAY) == "c" * 1000
    for field, limit in (("name", 200), ("firmware", 200), ("comment", 1000)):
        with pytest.raises(InvalidValue) as refused:
            catalog.parse_field(field, "x" * (limit + 1), today=TODAY)
        assert refused.value.details == {"field": field, "reason": "too_long", "limit": limit}
    assert catalog.parse_field("comment", "  два\n  слова  ", today=TODAY) == "два\n  слова"
    assert catalog.parse_field("firmware", " 4.9\t beta ", today=TODAY) == "4.9 beta"
    with pytest.raises(InvalidValue) as refused:
        catalog.parse_field("firmware", " \n ", today=TODAY)
    assert refused.value.details == {"field": "firmware", "reason": "empty"}
    assert catalog.clean_category_name("  Новая   группа ") == "Новая группа"
    assert catalog.clean_category_name("к" * 100) == "к" * 100
    with pytest.raises(InvalidValue) as refused:
        catalog.clean_category_name(" \t ")
    assert refused.value.details == {"field": "category", "reason": "empty"}
    with pytest.raises(InvalidValue) as refused:
        catalog.clean_category_name("к" * 101)
    assert refused.value.details == {"field": "category", "reason": "too_long", "limit": 100}


def test_numbers_are_checked_against_other_devices_only(admin: Person) -> None:
    """A number or serial in use conflicts, unless it is the edited device's own."""
    assert catalog.parse_number(" 2 147 483 647 ") == 2_147_483_647
    with pytest.raises(InvalidValue) as refused:
        catalog.parse_number(" 12a ")
    assert refused.value.details == {"field": "number", "reason": "not_number", "text": "12a"}
    ten = Device.get(Device.number == 10)
    twenty = Device.get(Device.number == 20)
    with pytest.raises(Conflict) as taken:
        catalog.parse_field("number", "10", today=TODAY)
    assert taken.value.details == {"field": "number", "other": ten, "value": 10}
    assert catalog.parse_field("number", "10", today=TODAY, exclude_id=ten.id) == 10
    with pytest.raises(Conflict):
        catalog.parse_field("number", "10", today=TODAY, exclude_id=twenty.id)
    with pytest.raises(Conflict) as taken:
        catalog.parse_field("serial", " me-20 ", today=TODAY)
    assert taken.value.details == {"field": "serial", "other": twenty, "value": "me-20"}
    assert catalog.parse_field("serial", "ME-20", today=TODAY, exclude_id=twenty.id) == "ME-20"
    with pytest.raises(Conflict):
        catalog.parse_field("serial", "Me-20", today=TODAY, exclude_id=ten.id)
    assert catalog.parse_field("serial", "ME-21", today=TODAY) == "ME-21"
    with pytest.raises(InvalidValue) as refused:
        catalog.parse_field("serial", "  ", today=TODAY)
    assert refused.value.details == {"field": "serial", "reason": "empty"}


def test_dates_and_unknown_fields(admin: Person) -> None:
    """A registration date needs a year; a bad one names the text; unknown fields raise."""
    assert catalog.parse_field("registered_on", "01.02.2024", today=TODAY) == date(2024, 2, 1)
    # A two-digit year is read around the caller's today.
    assert catalog.parse_field("registered_on", "01.02.24", today=TODAY) == date(2024, 2, 1)
    with pytest.raises(InvalidValue) as refused:
        catalog.parse_field("registered_on", " 01.02 ", today=TODAY)
    assert refused.value.details == {"field": "registered_on", "reason": "bad_date",
                                     "text": "01.02"}
    with pytest.raises(ValueError, match="unknown field 'category'"):
        catalog.parse_field("category", "Онлайн-касса", today=TODAY)
    with pytest.raises(ValueError, match="unknown field 'place'"):
        catalog.update_field(Device.get(Device.number == 10).id, "place", "x",
                             actor=admin, now=TODAY)


def test_next_free_and_lowest_numbers(admin: Person, seed: Any) -> None:
    """One above the highest number; the lowest number; both empty-safe."""
    seed.device(7)
    assert catalog.next_free_number() == 21
    assert catalog.lowest_number() == 7
    Device.delete().execute()
    assert catalog.next_free_number() == 1
    assert catalog.lowest_number() is None


def test_categories_by_name_and_found_ignoring_case_spaces_and_yo(admin: Person,
                                                                  seed: Any) -> None:
    """The category list is sorted by name; a lookup folds case, spaces and «ё»."""
    seed.category("Счётчик купюр")
    seed.category("Весы")
    assert [c.name for c in catalog.categories()] == [
        "Весы", "Онлайн-касса", "Счётчик купюр", "Фискальный накопитель"]
    assert catalog.find_category("  ОНЛАЙН-касса ").name == "Онлайн-касса"
    assert catalog.find_category("СЧЕТЧИК купюр").name == "Счётчик купюр"
    assert catalog.find_category("фискальный  накопитель").name == "Фискальный накопитель"
    assert catalog.find_category("Сканер") is None
    scales = Category.get(Category.name == "Весы")
    assert catalog.category_by_id(scales.id) == scales
    assert catalog.category_by_id(10_000) is None
    ten = Device.get(Device.number == 10)
    assert catalog.find_device(ten.id) == ten
    assert catalog.find_device(10_000) is None


# --- create ----------------------------------------------------------------------------------


def test_create_writes_every_field_and_one_audit_row(admin: Person, clock: Any) -> None:
    """The new device carries the values, an existing category, the times; others untouched."""
    before = snapshot()
    device = catalog.create_device({**VALUES, "category": "онлайн-КАССА"}, actor=admin,
                                   now=clock.now)
    assert changed(before) == {"Device": {device.id}}
    row = Device.get_by_id(device.id)
    assert (row.number, row.name, row.serial, row.registered_on, row.firmware, row.comment,
            row.search_text, row.created_at, row.updated_at) == (
        49, "Эвотор 7.2", "ZN-1", date(2024, 2, 1), "4.9", "с блоком", "эвотор 7.2\nzn-1",
        clock.now, clock.now)
    assert row.category.name == "Онлайн-касса"
    assert details("device.created") == [{
        "number": 49, "name": "Эвотор 7.2", "serial": "ZN-1", "registered_on": "2024-02-01",
        "firmware": "4.9", "comment": "с блоком", "category": "Онлайн-касса",
        "device_number": 49, "device_name": "Эвотор 7.2"}]
    entry = AuditLog.get(AuditLog.action == "device.created")
    assert (entry.actor_id, entry.device_id, entry.created_at) == (admin.id, device.id, clock.now)
    assert not Loan.select().exists()


def test_create_without_optional_fields_and_a_new_category(admin: Person, clock: Any) -> None:
    """Missing optional fields are stored empty; a new category gets the clock's times."""
    device = catalog.create_device(
        {"number": 5, "name": "Сканер", "category": " Сканер  штрихкода ", "serial": "SC-5"},
        actor=admin, now=clock.now)
    row = Device.get_by_id(device.id)
    assert (row.registered_on, row.firmware, row.comment) == (None, "", "")
    category = Category.get_by_id(row.category_id)
    assert (category.name, category.created_at, category.updated_at) == (
        "Сканер штрихкода", clock.now, clock.now)
    assert Category.select().count() == 3


def test_create_with_a_holder_lends_the_new_device_only(admin: Person, seed: Any,
                                                        clock: Any) -> None:
    """The holder's loan is on the new device, with place, due date and assigner."""
    colleague = seed.person(5, "colleague@company.ru")
    seed.loan(Device.get(Device.number == 10), colleague)
    device = catalog.create_device(VALUES, actor=admin, now=clock.now,
                                   holder_email="Colleague@Company.ru", place="склад",
                                   due_date=date(2026, 12, 10))
    loan = Loan.get(Loan.device == device.id)
    assert (loan.person_id, loan.place, loan.due_date, loan.assigned_by_id, loan.taken_at) == (
        colleague.id, "склад", date(2026, 12, 10), admin.id, clock.now)
    assert Loan.select().count() == 2
    assert Person.select().count() == 2
    bare = catalog.create_device({**VALUES, "number": 50, "serial": "ZN-2"}, actor=admin,
                                 now=clock.now, holder_email="colleague@company.ru")
    loan = Loan.get(Loan.device == bare.id)
    assert (loan.person_id, loan.place, loan.due_date) == (colleague.id, "", None)
    catalog.create_device({**VALUES, "number": 51, "serial": "ZN-3"}, actor=admin,
                          now=clock.now, holder_email="newcomer@company.ru")
    created = AuditLog.get(AuditLog.action == "person.created")
    assert (created.actor_id, json.loads(created.details)["person_email"]) == (
        admin.id, "newcomer@company.ru")


def test_a_unique_index_race_reads_as_the_conflict_a_check_would_raise(
        admin: Person, clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the pre-checks miss a taken number or serial, the unique index's error names it."""
    ten = Device.get(Device.number == 10)
    twenty = Device.get(Device.number == 20)
    real_number, real_serial = catalog.check_number_free, catalog.check_serial_free
    calls: list[str] = []

    def number_once(number: int, exclude_id: int | None = None) -> None:
        calls.append(f"number {number} {exclude_id}")
        if len(calls) > 1:
            real_number(number, exclude_id)

    def serial_once(serial: str, exclude_id: int | None = None) -> None:
        calls.append(f"serial {serial} {exclude_id}")
        if len(calls) > 2:
            real_serial(serial, exclude_id)

    monkeypatch.setattr(catalog, "check_number_free", number_once)
    monkeypatch.setattr(catalog, "check_serial_free", serial_once)
    with pytest.raises(Conflict) as taken:
        catalog.create_device({**VALUES, "number": 10}, actor=admin, now=clock.now)
    assert taken.value.details == {"field": "number", "other": ten, "value": 10}
    assert isinstance(taken.value.__cause__, pw.IntegrityError)
    calls.clear()
    with pytest.raises(Conflict) as taken:
        catalog.create_device({**VALUES, "serial": "ME-20"}, actor=admin, now=clock.now)
    assert taken.value.details == {"field": "serial", "other": twenty, "value": "ME-20"}
    assert calls == ["number 49 None", "serial ME-20 None", "number 49 None",
                     "serial ME-20 None"]
    assert Device.select().count() == 2


def test_a_race_on_the_edited_device_excludes_it(admin: Person, clock: Any,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """The edit's race check leaves the device itself out; an unexplained error is generic."""
    ten = Device.get(Device.number == 10)
    twenty = Device.get(Device.number == 20)
    seen: list[tuple[Any, Any]] = []
    real_number = catalog.check_number_free

    def number_after_first(number: int, exclude_id: int | None = None) -> None:
        seen.append((number, exclude_id))
        if len(seen) > 1:
            real_number(number, exclude_id)

    monkeypatch.setattr(catalog, "check_number_free", number_after_first)
    with pytest.raises(Conflict) as taken:
        catalog.update_field(ten.id, "number", 20, actor=admin, now=clock.now)
    assert taken.value.details == {"field": "number", "other": twenty, "value": 20}
    assert seen == [(20, ten.id), (20, ten.id)]
    monkeypatch.setattr(catalog, "check_number_free", real_number)
    real_serial = catalog.check_serial_free
    serials: list[tuple[Any, Any]] = []

    def serial_after_first(serial: str, exclude_id: int | None = None) -> None:
        serials.append((serial, exclude_id))
        if len(serials) > 1:
            real_serial(serial, exclude_id)

    monkeypatch.setattr(catalog, "check_serial_free", serial_after_first)
    with pytest.raises(Conflict) as taken:
        catalog.update_field(ten.id, "serial", "ME-20", actor=admin, now=clock.now)
    assert taken.value.details == {"field": "serial", "other": twenty, "value": "ME-20"}
    assert serials == [("ME-20", ten.id), ("ME-20", ten.id)]
    monkeypatch.setattr(catalog, "check_number_free", lambda number, exclude_id=None: None)
    monkeypatch.setattr(catalog, "check_serial_free", lambda serial, exclude_id=None: None)
    with pytest.raises(Conflict) as generic:
        catalog.create_device({**VALUES, "number": 10, "serial": "me-20"}, actor=admin,
                              now=clock.now)
    assert generic.value.details == {"field": "device", "value": 10}
    with pytest.raises(Conflict) as generic:
        catalog.update_field(ten.id, "number", 20, actor=admin, now=clock.now)
    assert generic.value.details == {"field": "device", "value": 20}
    # The database's own words are logged, for both.
    errors = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith("unexpected integrity error: ")]
    assert len(errors) == 2 and all("number" in e for e in errors)  # the index's name
    assert Device.get_by_id(ten.id).number == 10


# --- edit ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value", "stored", "old", "new"), [
    ("number", 11, 11, 10, 11),
    ("name", "Атол 30Ф", "Атол 30Ф", "Атол 91Ф", "Атол 30Ф"),
    ("serial", "AT-11", "AT-11", "AT-10", "AT-11"),
    ("registered_on", date(2023, 5, 6), date(2023, 5, 6), None, "2023-05-06"),
    ("firmware", "5.0", "5.0", "", "5.0"),
    ("comment", "в ремонте", "в ремонте", "", "в ремонте"),
])
def test_each_field_edit_changes_that_device_only(admin: Person, clock: Any, field: str,
                                                  value: Any, stored: Any, old: Any,
                                                  new: Any) -> None:
    """One field of one device changes, with updated_at and an audit row naming old and new."""
    ten = Device.get(Device.number == 10)
    clock.advance(hours=1)
    before = snapshot()
    updated = catalog.update_field(ten.id, field, value, actor=admin, now=clock.now)
    assert getattr(updated, field) == stored
    assert changed(before) == {"Device": {ten.id}}
    row = Device.get_by_id(ten.id)
    assert (getattr(row, field), row.updated_at) == (stored, clock.now)
    name = value if field == "name" else "Атол 91Ф"
    serial = value if field == "serial" else "AT-10"
    assert row.search_text == f"{name.lower()}\n{serial.lower()}"
    assert Device.get(Device.number == 20).search_text == "меркурий\nme-20"
    [entry] = details("device.edited")
    assert (entry["field"], entry["old"], entry["new"]) == (field, old, new)
    assert (entry["device_number"], entry["device_name"]) == (10, "Атол 91Ф")
    logged = AuditLog.get(AuditLog.action == "device.edited")
    assert (logged.device_id, logged.actor_id, logged.created_at) == (ten.id, admin.id, clock.now)


def test_clearing_optional_fields_stores_none_or_empty(admin: Person, seed: Any,
                                                       clock: Any) -> None:
    """An empty registration date becomes NULL, an empty firmware or comment ''."""
    device = seed.device(30, registered_on=date(2024, 1, 1), firmware="1.0", comment="c")
    other = seed.device(31, registered_on=date(2024, 1, 1), firmware="1.0", comment="c")
    for field, empty in (("registered_on", ""), ("firmware", None), ("comment", "")):
        catalog.update_field(device.id, field, empty, actor=admin, now=clock.now)
    row = Device.get_by_id(device.id)
    assert (row.registered_on, row.firmware, row.comment) == (None, "", "")
    assert [(e["field"], e["new"]) for e in details("device.edited")] == [
        ("registered_on", None), ("firmware", ""), ("comment", "")]
    kept = Device.get_by_id(other.id)
    assert (kept.registered_on, kept.firmware, kept.comment) == (date(2024, 1, 1), "1.0", "c")


def test_category_edit_moves_that_device_only(admin: Person, seed: Any, clock: Any) -> None:
    """A category named loosely is the existing one; a new name creates it; others stay."""
    ten = Device.get(Device.number == 10)
    twenty = Device.get(Device.number == 20)
    till = Category.get(Category.name == "Онлайн-касса")
    updated = catalog.update_field(ten.id, "category", " онлайн-КАССА", actor=admin,
                                   now=clock.now)
    assert updated.category_id == till.id
    assert updated.search_text == "атол 91ф\nat-10"
    updated = catalog.update_field(ten.id, "category", "Весы", actor=admin, now=clock.now)
    scales = Category.get(Category.name == "Весы")
    assert (updated.category_id, updated.category.name) == (scales.id, "Весы")
    assert Device.get_by_id(twenty.id).category_id == till.id
    assert [(e["old"], e["new"]) for e in details("device.edited")] == [
        ("Фискальный накопитель", "Онлайн-касса"), ("Онлайн-касса", "Весы")]


def test_edits_of_a_missing_device_and_conflicts_write_nothing(admin: Person,
                                                              clock: Any) -> None:
    """A deleted device is NotFound; a conflict leaves every row as it was."""
    ten = Device.get(Device.number == 10)
    before = snapshot()
    with pytest.raises(NotFound) as missing:
        catalog.update_field(10_000, "name", "x", actor=admin, now=clock.now)
    assert missing.value.details == {"device_id": 10_000}
    with pytest.raises(Conflict) as taken:
        catalog.update_field(ten.id, "serial", "me-20", actor=admin, now=clock.now)
    assert taken.value.details["field"] == "serial"
    with pytest.raises(Conflict) as taken:
        catalog.update_field(ten.id, "number", 20, actor=admin, now=clock.now)
    assert taken.value.details["field"] == "number"
    # Its own number and serial are no conflict.
    catalog.update_field(ten.id, "serial", "at-10", actor=admin, now=clock.now)
    catalog.update_field(ten.id, "number", 10, actor=admin, now=clock.now)
    assert changed(before) == {"Device": {ten.id}}
    assert Device.get_by_id(ten.id).serial == "at-10"


# --- delete ----------------------------------------------------------------------------------


def test_delete_removes_that_device_its_loans_and_queue_only(admin: Person, seed: Any,
                                                            clock: Any) -> None:
    """The device, its closed loans and its queue go; the snapshot and history are audited."""
    ten = Device.get(Device.number == 10)
    twenty = Device.get(Device.number == 20)
    first, second, third = (seed.person(i, f"p{i}@company.ru") for i in (1, 2, 3))
    device = seed.device(30, "Касса", serial="KA-30", registered_on=date(2024, 1, 2),
                         firmware="1.0", comment="с зарядкой")
    loans.take(device.id, first, now=clock.now, place="склад", due_date=date(2026, 12, 1),
               assigned_by=admin)
    clock.advance(days=1)
    loans.return_device(device.id, first, now=clock.now)
    loans.take(device.id, second, now=clock.now)
    clock.advance(days=1)
    loans.return_device(device.id, second, now=clock.now)
    seed.loan(ten, first)
    seed.loan(twenty, second)
    for minutes, (dev, person) in enumerate(((device, third), (ten, second), (device, first),
                                            (twenty, third))):
        joined = clock.now + timedelta(minutes=minutes)
        # The first row stored gets a high id: stored order and id order differ (PostgreSQL).
        QueueEntry.create(id=1000 if minutes == 0 else None, device=dev, person=person,
                          joined_at=joined, created_at=joined, updated_at=joined)
    # Joined at the same time as the first: the id breaks the tie.
    tie = QueueEntry.create(device=device, person=second, joined_at=clock.now,
                            created_at=clock.now, updated_at=clock.now)
    ahead = ["p2@company.ru", "p3@company.ru"] if tie.id < 1000 else [
        "p3@company.ru", "p2@company.ru"]
    kept_loans = {loan.id for loan in Loan.select().where(Loan.device != device.id)}
    kept_entries = {e.id for e in QueueEntry.select().where(QueueEntry.device != device.id)}
    result = catalog.delete_device(device.id, actor=admin, now=clock.now)
    assert result["device"] == {
        "number": 30, "name": "Касса", "category": "Онлайн-касса", "serial": "KA-30",
        "registered_on": "2024-01-02", "firmware": "1.0", "comment": "с зарядкой"}
    assert [p.email for p in result["waiting"]] == [*ahead, "p1@company.ru"]
    assert result["loans"] == [
        {"person_email": "p2@company.ru", "taken_at": (clock.now - timedelta(days=1)).isoformat(),
         "returned_at": clock.now.isoformat(), "due_date": None, "place": "",
         "assigned_by_email": None},
        {"person_email": "p1@company.ru", "taken_at": (clock.now - timedelta(days=2)).isoformat(),
         "returned_at": (clock.now - timedelta(days=1)).isoformat(),
         "due_date": "2026-12-01", "place": "склад", "assigned_by_email": "admin@company.ru"}]
    assert {d.number for d in Device.select()} == {10, 20}
    assert {loan.id for loan in Loan.select()} == kept_loans
    assert {e.id for e in QueueEntry.select()} == kept_entries
    [entry] = details("device.deleted")
    assert entry["snapshot"]["registered_on"] == "2024-01-02"
    assert entry["loans"] == result["loans"]
    assert entry["queue"] == [*ahead, "p1@company.ru"]
    assert (entry["device_number"], entry["device_name"]) == (30, "Касса")


def test_a_held_device_is_not_deleted(admin: Person, seed: Any, clock: Any) -> None:
    """Deleting a held device is refused and names the holder; nothing changes."""
    ten = Device.get(Device.number == 10)
    holder = seed.person(1, "p1@company.ru")
    seed.loan(ten, holder)
    before = snapshot()
    with pytest.raises(NotAllowed) as refused:
        catalog.delete_device(ten.id, actor=admin, now=clock.now)
    assert refused.value.details == {"reason": "held", "holder": holder}
    assert changed(before) == {}
    assert not details("device.deleted")
    with pytest.raises(NotFound):
        catalog.delete_device(10_000, actor=admin, now=clock.now)
