"""The database side of the import, on SQLite and PostgreSQL: existing data, atomic apply."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from conftest import ADMIN_ID, T0, USER_ID

from inventory import people
from inventory.devices import search_text_for
from inventory.errors import Conflict, NotAllowed
from inventory.import_apply import apply_plan, existing_data
from inventory.importing import build_plan, plan_file
from models import AuditLog, Device, Loan, Person, QueueEntry

HEADER = ["Айди", "Название", "Категория", "Артикул", "Дата регистрации", "Прошивка",
          "Комментарий", "Электронная почта", "Место устройства", "Дата возврата"]
TODAY = date(2026, 11, 26)


@pytest.fixture
def admin(seed, backend):
    """The acting admin (and the categories the files use)."""
    seed.category("Онлайн-касса")
    seed.category("Сканер")
    return seed.person(ADMIN_ID, name="Админ")


def plan_of(*rows: list[str]):
    """A plan for rows under the predecessor's header, against the database as it is."""
    return build_plan([HEADER, *rows], existing_data(), TODAY)


def snapshot() -> dict[str, int]:
    """Row counts of the tables an import writes."""
    return {model.__name__: model.select().count()
            for model in (Device, Person, Loan, AuditLog, QueueEntry)}


def actions() -> list[str]:
    """Audit actions in order."""
    return [a.action for a in AuditLog.select().order_by(AuditLog.id)]


def test_existing_data_reads_devices_serials_categories_and_open_loans(admin, seed):
    device = seed.device(7, "Эвотор", serial="AbC-7")
    seed.device(8, "Атол", serial="X-8")
    seed.loan(device, seed.person(USER_ID, "ivan@company.ru"))
    data = existing_data()
    assert data.devices_by_number == {7: "Эвотор", 8: "Атол"}
    assert data.numbers_by_serial == {"abc-7": 7, "x-8": 8}
    assert data.categories["онлайн-касса"] == "Онлайн-касса"
    assert data.open_loans == {7: "ivan@company.ru"}


def test_new_devices_loans_and_import_only_people(admin, seed, clock):
    seed.person(USER_ID, "ivan@company.ru")
    plan = plan_of(
        ["1", "Эвотор 7.2", "онлайн-касса", "EV-1", "01.02.2024", "4.5", "с блоком",
         "Ivan@Company.ru", "склад", "15.12.2026"],
        ["2", "Сканер Ёлка", "Сканер", "SC-2", "", "", "", "new.person@company.ru", "", ""],
        ["3", "Сканер 3", "Сканер", "SC-3", "", "", "", "", "", ""],
    )
    assert plan.ok and (len(plan.new), len(plan.updates), len(plan.loans)) == (3, 0, 2)
    result = apply_plan(plan, admin, clock.now, source="devices.csv")
    assert (result.created, result.updated, result.loans_created, result.people_created) == (
        3, 0, 2, 1)
    first = Device.get(Device.number == 1)
    assert (first.name, first.category.name, first.serial, first.registered_on,
            first.firmware, first.comment) == ("Эвотор 7.2", "Онлайн-касса", "EV-1",
                                              date(2024, 2, 1), "4.5", "с блоком")
    assert Device.get(Device.number == 2).search_text == search_text_for("Сканер Ёлка", "SC-2")
    loan = Loan.get(Loan.device == first)
    assert (loan.person.telegram_id, loan.place, loan.due_date, loan.assigned_by_id,
            loan.taken_at) == (USER_ID, "склад", date(2026, 12, 15), admin.id, clock.now)
    newcomer = Person.get(Person.email == "new.person@company.ru")
    assert newcomer.telegram_id is None and newcomer.deleted_at is None
    assert actions().count("device.created") == 3
    assert actions().count("loan.assigned") == 2
    assert actions().count("person.created") == 1
    summary = AuditLog.get(AuditLog.action == "import.applied")
    assert json.loads(summary.details)["source"] == "devices.csv"
    assert summary.actor_id == admin.id
    # The import-only person is linked when that email registers, and holds the device.
    person = people.register(555, "NEW.person@company.ru", name="Новый", username="new",
                             domains=(), now=clock.now)
    assert person.id == newcomer.id
    assert Loan.get(Loan.device == Device.get(Device.number == 2)).person_id == person.id


def test_updates_change_only_what_differs_and_keep_empty_optional_cells(admin, seed, clock):
    seed.device(5, "Старое имя", serial="OLD-5", firmware="1.0", comment="заметка",
                registered_on=date(2020, 1, 1))
    seed.device(6, "Без изменений", serial="S-6", category="Сканер")
    seed.device(7, "Дата", serial="S-7", registered_on=date(2020, 1, 1))
    seed.device(8, "Дата 2", serial="S-8")
    plan = plan_of(["5", "Новое имя", "Сканер", "NEW-5", "", "2.0", "", "", "", ""],
                   ["6", "Без изменений", "Сканер", "S-6", "", "", "", "", "", ""],
                   ["7", "Дата", "Онлайн-касса", "S-7", "02.03.2021", "", "", "", "", ""],
                   ["8", "Дата 2", "Онлайн-касса", "S-8", "2022-04-05", "", "", "", "", ""])
    assert (len(plan.new), len(plan.updates)) == (0, 4)
    result = apply_plan(plan, admin, clock.now)
    assert (result.updated, result.unchanged) == (3, 1)
    assert Device.get(Device.number == 7).registered_on == date(2021, 3, 2)
    assert Device.get(Device.number == 8).registered_on == date(2022, 4, 5)
    device = Device.get(Device.number == 5)
    assert (device.name, device.serial, device.category.name, device.firmware, device.comment,
            device.registered_on) == ("Новое имя", "NEW-5", "Сканер", "2.0", "заметка",
                                      date(2020, 1, 1))
    assert device.search_text == search_text_for("Новое имя", "NEW-5")
    assert device.updated_at == clock.now
    entry = AuditLog.get(AuditLog.action == "device.updated")
    assert entry.device_id == device.id
    assert json.loads(entry.details)["changes"]["name"] == ["Старое имя", "Новое имя"]


def test_new_holder_closes_the_open_loan_first(admin, seed, clock):
    device = seed.device(9)
    old = seed.person(USER_ID, "old@company.ru")
    seed.loan(device, old)
    newcomer = seed.person(200, "next@company.ru")
    QueueEntry.create(device=device, person=newcomer)
    waiting = seed.person(300, "waiting@company.ru")
    QueueEntry.create(device=device, person=waiting, hold_until=clock.now + timedelta(hours=5))
    clock.advance(hours=1)
    plan = plan_of(["9", "Эвотор 7.2", "Онлайн-касса", "SN-00009", "", "", "",
                    "next@company.ru", "офис", ""])
    assert len(plan.loans) == 1
    result = apply_plan(plan, admin, clock.now)
    assert (result.loans_closed, result.loans_created) == (1, 1)
    loans = list(Loan.select().order_by(Loan.id))
    assert loans[0].returned_at == clock.now and loans[0].person_id == old.id
    assert loans[1].returned_at is None and loans[1].person_id == newcomer.id
    # The new holder's own wait ends; someone else's hold goes back to waiting in line.
    assert [(q.person_id, q.hold_until) for q in QueueEntry.select()] == [(waiting.id, None)]
    assert AuditLog.get(AuditLog.action == "hold.cleared").person_id == waiting.id
    unassigned = AuditLog.get(AuditLog.action == "loan.unassigned")
    assert unassigned.person_id == old.id and unassigned.actor_id == admin.id
    # The same file again: the holder is already right, nothing new happens.
    again = plan_of(["9", "Эвотор 7.2", "Онлайн-касса", "SN-00009", "", "", "",
                     "NEXT@company.ru", "офис", ""])
    assert again.loans == []
    result = apply_plan(again, admin, clock.now)
    assert (result.unchanged, result.loans_created) == (1, 0)
    assert Loan.select().count() == 2


def test_deleted_person_named_by_a_file_is_restored(admin, seed, clock):
    gone = seed.person(None, "gone@company.ru")
    Person.update(deleted_at=T0).where(Person.id == gone.id).execute()
    apply_plan(plan_of(["1", "Эвотор", "Онлайн-касса", "E-1", "", "", "", "gone@company.ru",
                        "", ""]), admin, clock.now)
    assert Person.get_by_id(gone.id).deleted_at is None
    assert Loan.get().person_id == gone.id
    assert "person.restored" in actions()


def test_a_file_with_errors_writes_nothing(admin, seed, clock):
    seed.device(49, "Эвотор 7.2", serial="ZN-49")
    raw = ("\n".join([",".join(HEADER),
                      "1,Годный,Сканер,OK-1,,,,someone@company.ru,,",
                      "49,Дубль,Сканер,NEW-49-2,,,,,,",
                      "2,Плохая дата,Сканер,OK-2,31.02.2024,,,,,",
                      "3,Чужой серийный,Сканер,zn-49,,,,,,",
                      "4,Неизвестная,Пылесос,OK-4,,,,,,"]) + "\n").encode("cp1251")
    plan = plan_file(raw, "devices.csv", existing_data(), TODAY)
    assert not plan.ok and {e.row for e in plan.errors} == {4, 5, 6}
    before = snapshot()
    with pytest.raises(NotAllowed):
        apply_plan(plan, admin, clock.now)
    assert snapshot() == before


def test_a_conflict_found_while_applying_rolls_everything_back(admin, seed, clock):
    plan = plan_of(["1", "Эвотор", "Онлайн-касса", "E-1", "", "", "", "a@company.ru", "", ""],
                   ["2", "Эвотор 2", "Онлайн-касса", "E-2", "", "", "", "", "", ""])
    # Someone adds device 2 between the preview and the confirmation.
    seed.device(2, "Успели раньше", serial="OTHER-2")
    before = snapshot()
    with pytest.raises(Conflict):
        apply_plan(plan, admin, clock.now)
    assert snapshot() == before
    assert not Person.select().where(Person.email == "a@company.ru").exists()


def test_serial_taken_meanwhile_is_a_conflict_too(admin, seed, clock):
    plan = plan_of(["1", "Эвотор", "Онлайн-касса", "E-1", "", "", "", "", "", ""])
    seed.device(2, "Успели раньше", serial="E-1")
    before = snapshot()
    with pytest.raises(Conflict):
        apply_plan(plan, admin, clock.now)
    assert snapshot() == before


def test_thousands_of_rows_go_in_batches(admin, seed, clock):
    rows = [[str(n), f"Устройство {n}", "Сканер", f"SN-{n}", "01.01.2024", "", "",
             f"p{n % 700}@company.ru", "", ""] for n in range(1, 2501)]
    plan = plan_of(*rows)
    assert plan.ok
    progress: list[tuple[str, int, int]] = []
    result = apply_plan(plan, admin, clock.now, lambda *a: progress.append(a))
    assert (result.created, result.loans_created, result.people_created) == (2500, 2500, 700)
    assert Device.select().count() == 2500
    assert Loan.select().where(Loan.returned_at.is_null()).count() == 2500
    # Progress counts every row written so far, batch after batch.
    assert [p for p in progress if p[0] == "devices"] == [
        ("devices", 2000, 2500), ("devices", 2500, 2500), ("devices", 2500, 2500)]
    assert [p for p in progress if p[0] == "loans"] == [
        ("loans", 2000, 2500), ("loans", 2500, 2500)]
    assert progress[-1][0] == "audit"
    # Re-importing the same rows with a change in every one updates all in bulk.
    changed = [[r[0], r[1] + " v2", *r[2:]] for r in rows]
    result = apply_plan(plan_of(*changed), admin, clock.now)
    assert (result.updated, result.unchanged, result.loans_created) == (2500, 0, 0)
    assert Device.get(Device.number == 2500).name == "Устройство 2500 v2"
    assert Device.get(Device.number == 2500).search_text == search_text_for(
        "Устройство 2500 v2", "SN-2500")


def test_due_date_in_the_past_is_kept_as_overdue(admin, seed, clock):
    due = TODAY - timedelta(days=3)
    apply_plan(plan_of(["1", "Эвотор", "Онлайн-касса", "E-1", "", "", "", "a@company.ru", "",
                        due.strftime("%d.%m.%Y")]), admin, clock.now)
    assert Loan.get().due_date == due


def test_the_holder_named_again_gets_the_new_place_and_due_date(admin, seed, clock):
    ivan = seed.person(USER_ID, "ivan@company.ru")
    olga = seed.person(USER_ID + 1, "olga@company.ru")
    moved = seed.device(1, "Эвотор 1", serial="EV-1", category="Онлайн-касса")
    kept = seed.device(2, "Эвотор 2", serial="EV-2", category="Онлайн-касса")
    other = seed.device(3, "Эвотор 3", serial="EV-3", category="Онлайн-касса")
    seed.loan(moved, ivan, due=date(2026, 12, 1), place="склад")
    seed.loan(kept, ivan, due=date(2026, 12, 2), place="офис")
    seed.loan(other, olga, due=date(2026, 12, 3), place="дома")
    plan = plan_of(
        ["1", "Эвотор 1", "Онлайн-касса", "EV-1", "", "", "", "ivan@company.ru", "офис 5",
         "20.12.2026"],
        # Same holder, empty place and date: the loan keeps both.
        ["2", "Эвотор 2", "Онлайн-касса", "EV-2", "", "", "", "ivan@company.ru", "", ""],
        ["3", "Эвотор 3", "Онлайн-касса", "EV-3", "", "", "", "", "", ""],
    )
    assert plan.ok and (len(plan.new), len(plan.updates), len(plan.loans)) == (0, 3, 0)
    result = apply_plan(plan, admin, clock.now, source="devices.csv")
    assert (result.updated, result.unchanged, result.loans_created) == (1, 2, 0)
    assert result.updated + result.unchanged == len(plan.updates)  # the preview's count
    current = {loan.device_id: (loan.person_id, loan.place, loan.due_date)
               for loan in Loan.select().where(Loan.returned_at.is_null())}
    assert current == {moved.id: (ivan.id, "офис 5", date(2026, 12, 20)),
                       kept.id: (ivan.id, "офис", date(2026, 12, 2)),
                       other.id: (olga.id, "дома", date(2026, 12, 3))}
    changed = AuditLog.get(AuditLog.action == "loan.changed")
    assert changed.device_id == moved.id
    assert json.loads(changed.details)["place"] == "офис 5"
    assert Loan.select().count() == 3
