"""Admin domain functions on SQLite and PostgreSQL: catalogue, people, history."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from conftest import ADMIN_ID, USER_ID

from inventory import admin_people, catalog, loans
from inventory.errors import (
    Conflict,
    DomainNotAllowed,
    InvalidEmail,
    InvalidValue,
    NotAllowed,
    NotFound,
)
from inventory.history import history
from models import AuditLog, Category, Device, Loan, Person, QueueEntry

# parse_field reads dates with the caller's clock.
TODAY = date(2026, 12, 1)

VALUES = {"number": 49, "name": "Эвотор 7.2", "category": "Онлайн-касса", "serial": "ZN-1",
          "registered_on": date(2024, 2, 1), "firmware": "4.9", "comment": "с блоком"}


@pytest.fixture
def admin(seed, backend):
    seed.category("Онлайн-касса")
    return seed.person(ADMIN_ID, "admin@company.ru", name="Админ")


def test_create_device_with_new_category_and_unregistered_holder(admin, clock):
    device = catalog.create_device({**VALUES, "category": "Счётчик купюр"}, actor=admin,
                                   now=clock.now, holder_email="New@Company.ru", place="склад",
                                   due_date=date(2026, 12, 1))
    assert device.search_text == "эвотор 7.2\nzn-1"
    assert Category.get(Category.name == "Счётчик купюр").id == device.category_id
    person = Person.get(Person.email == "new@company.ru")
    loan = Loan.get(Loan.device == device)
    assert (person.telegram_id, loan.person_id, loan.assigned_by_id, loan.place) == (
        None, person.id, admin.id, "склад")
    assert {a.action for a in AuditLog.select()} == {"device.created", "person.created",
                                                     "loan.assigned"}


def test_create_refuses_taken_number_or_serial_case_insensitively(admin, seed, clock):
    seed.device(49, "Атол", serial="zn-1")
    with pytest.raises(Conflict) as taken:
        catalog.create_device(VALUES, actor=admin, now=clock.now)
    assert taken.value.details["field"] == "number"
    with pytest.raises(Conflict) as taken:
        catalog.create_device({**VALUES, "number": 50}, actor=admin, now=clock.now)
    assert taken.value.details["field"] == "serial"
    assert Device.select().count() == 1


@pytest.mark.parametrize(("field", "text", "reason"), [
    ("number", "0", "not_number"), ("number", "2147483648", "not_number"),
    ("number", "4.5", "not_number"), ("name", "   ", "empty"), ("serial", "s" * 201, "too_long"),
    ("registered_on", "2024-13-01", "bad_date"), ("comment", "c" * 1001, "too_long"),
])
def test_parse_field_refuses_bad_values(admin, field, text, reason):
    with pytest.raises(InvalidValue) as refused:
        catalog.parse_field(field, text, today=TODAY)
    assert refused.value.details["reason"] == reason


def test_parse_field_accepts_number_forms(admin):
    assert catalog.parse_field("number", "№ 49", today=TODAY) == 49
    assert catalog.parse_field("registered_on", "2024-02-01", today=TODAY) == date(2024, 2, 1)
    assert catalog.parse_field("name", "  Эвотор   7.2 ", today=TODAY) == "Эвотор 7.2"


def test_update_field_keeps_search_text_and_audits(admin, seed, clock):
    device = seed.device(49, "Эвотор", serial="A-1")
    seed.device(50, "Атол", serial="B-2")
    updated = catalog.update_field(device.id, "serial", "C-3", actor=admin, now=clock.now)
    assert updated.search_text == "эвотор\nc-3"
    updated = catalog.update_field(device.id, "name", "Эвотор 10", actor=admin, now=clock.now)
    assert updated.search_text == "эвотор 10\nc-3"
    updated = catalog.update_field(device.id, "registered_on", None, actor=admin, now=clock.now)
    assert updated.registered_on is None
    with pytest.raises(Conflict):
        catalog.update_field(device.id, "number", 50, actor=admin, now=clock.now)
    with pytest.raises(Conflict):
        catalog.update_field(device.id, "serial", "b-2", actor=admin, now=clock.now)
    assert [json.loads(a.details)["field"] for a in
            AuditLog.select().where(AuditLog.action == "device.edited")] == [
        "serial", "name", "registered_on"]


def test_delete_device(admin, seed, clock):
    device = seed.device(49)
    user = seed.person(USER_ID)
    seed.loan(device, user)
    with pytest.raises(NotAllowed):
        catalog.delete_device(device.id, actor=admin, now=clock.now)
    loans.return_device(device.id, user, now=clock.now)
    QueueEntry.create(device=device, person=user)
    kept = catalog.delete_device(device.id, actor=admin, now=clock.now)
    assert kept["loans"][0]["person_email"] == user.email
    assert not Device.select().exists() and not Loan.select().exists()
    assert not QueueEntry.select().exists()
    entry = AuditLog.get(AuditLog.action == "device.deleted")
    assert entry.device_id is None and json.loads(entry.details)["device_number"] == 49
    # The audit entries written while the device existed survive with their numbers.
    assert json.loads(AuditLog.get(AuditLog.action == "loan.taken").details)[
        "device_number"] == 49
    with pytest.raises(NotFound):
        catalog.delete_device(device.id, actor=admin, now=clock.now)


def test_history_newest_first_with_assigner(admin, seed, clock):
    device = seed.device(49)
    user = seed.person(USER_ID)
    for n in range(10):
        loans.take(device.id, user, now=clock.now, place=str(n),
                   assigned_by=admin if n == 3 else None)
        clock.advance(days=1)
        loans.return_device(device.id, user, now=clock.now)
    page = history(1, device_id=device.id)
    assert (page.total, page.pages, [loan.place for loan in page.loans]) == (
        10, 2, ["9", "8", "7", "6", "5", "4", "3", "2"])
    assert page.loans[6].assigned_by.email == "admin@company.ru"
    assert page.loans[0].assigned_by_id is None
    assert [loan.place for loan in history(5, person_id=user.id).loans] == ["1", "0"]


def test_people_search_folds_case_and_yo_on_both_databases(admin, seed):
    seed.person(1, "a@company.ru", name="Пётр Ёлкин", username="Petr_E")
    seed.person(2, "b@company.ru", name="Анна Смирнова")
    assert [p.email for p in admin_people.search("ЕЛКИН").people] == ["a@company.ru"]
    assert [p.email for p in admin_people.search("@petr").people] == ["a@company.ru"]
    assert [p.email for p in admin_people.search("B@COMPANY").people] == ["b@company.ru"]
    assert admin_people.search("").total == 3


def test_change_email(admin, seed, clock):
    person = seed.person(USER_ID, "ivan@company.ru")
    seed.person(200, "olga@company.ru")
    with pytest.raises(InvalidEmail):
        admin_people.change_email(person.id, "нет", actor=admin, now=clock.now)
    with pytest.raises(DomainNotAllowed):
        admin_people.change_email(person.id, "i@gmail.com", actor=admin, now=clock.now,
                                  domains=("company.ru",))
    with pytest.raises(Conflict):
        admin_people.change_email(person.id, "OLGA@company.ru", actor=admin, now=clock.now)
    admin_people.change_email(person.id, "Ivan.P@Company.ru", actor=admin, now=clock.now)
    assert Person.get_by_id(person.id).email == "ivan.p@company.ru"


def test_delete_person(admin, seed, clock):
    person = seed.person(USER_ID)
    device = seed.device(49)
    seed.loan(device, person)
    with pytest.raises(NotAllowed) as refused:
        admin_people.delete_person(person.id, actor=admin, now=clock.now)
    assert refused.value.details == {"reason": "holds", "count": 1}
    with pytest.raises(NotAllowed):
        admin_people.delete_person(admin.id, actor=admin, now=clock.now)
    loans.return_device(device.id, person, now=clock.now + timedelta(hours=1))
    QueueEntry.create(device=device, person=person)
    assert admin_people.delete_person(person.id, actor=admin, now=clock.now).queues == 1
    assert Person.get_by_id(person.id).deleted_at == clock.now
    assert Loan.select().where(Loan.person == person.id).count() == 1
    with pytest.raises(NotFound):
        admin_people.get_person(person.id)
    with pytest.raises(NotFound):
        admin_people.delete_person(person.id, actor=admin, now=clock.now)


def test_deleting_a_person_voids_offers_waiting_for_them(admin, seed, clock):
    from inventory import handover

    holder, colleague = seed.person(USER_ID), seed.person(USER_ID + 1)
    device = seed.device(49)
    seed.loan(device, holder)
    offered = handover.offer(device.id, holder, colleague, clock.now)
    admin_people.delete_person(colleague.id, actor=admin, now=clock.now)
    assert handover.Handover.get_by_id(offered.id).status == handover.VOID
    assert handover.pending(device.id) is None
