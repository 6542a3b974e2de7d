"""/edit and the admin buttons of a card: edit fields, assign, unassign, history, delete."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from conftest import ADMIN_ID, USER_ID, dialog_state

from handlers import texts
from models import AuditLog, Category, Device, Loan, Person, QueueEntry

OTHER_ID = 200
TODAY = date(2026, 11, 26)


@pytest.fixture
def world(seed):
    """An admin, two users, categories and device 49."""
    admin = seed.person(ADMIN_ID, "admin@company.ru", name="Админ")
    user = seed.person(USER_ID, "ivan@company.ru", name="Иван Петров", username="ivan")
    other = seed.person(OTHER_ID, "olga@company.ru", name="Ольга Смирнова", username="olga")
    seed.category("Сканер")
    device = seed.device(49, "Эвотор 7.2", serial="ZN-49")
    return admin, user, other, device


# --- the menu --------------------------------------------------------------------------------


def test_card_shows_edit_and_history_to_admins_only(harness, world):
    *_, device = world
    call = harness.send(ADMIN_ID, "49").last(ADMIN_ID)
    assert call.button(texts.BTN_EDIT)["callback_data"] == f"edit:{device.id}"
    assert call.button(texts.BTN_HISTORY)["callback_data"] == f"hist:{device.id}"
    call = harness.send(USER_ID, "49").last(USER_ID)
    labels = [b["text"] for b in call.buttons]
    assert texts.BTN_EDIT not in labels and texts.BTN_HISTORY not in labels


def test_edit_button_and_command_open_the_menu(harness, world):
    *_, device = world
    call = harness.press(ADMIN_ID, f"edit:{device.id}").last(ADMIN_ID)
    assert call.method == "editMessageText"
    assert call.text.startswith(texts.CARD_TITLE.format(number=49, name="Эвотор 7.2"))
    assert call.text.endswith(texts.EDIT_MENU)
    for label in (texts.BTN_EDIT_NUMBER, texts.BTN_EDIT_SERIAL, texts.BTN_EDIT_COMMENT,
                  texts.BTN_ASSIGN, texts.BTN_HISTORY, texts.BTN_DELETE, texts.BTN_TO_CARD):
        call.button(label)
    assert harness.send(ADMIN_ID, "/edit 49").last(ADMIN_ID).text.endswith(texts.EDIT_MENU)


def test_bare_edit_asks_for_the_number(harness, world):
    call = harness.send(ADMIN_ID, "/edit").last(ADMIN_ID)
    assert call.text == texts.EDIT_ASK_NUMBER.format(example=49)
    assert harness.send(ADMIN_ID, "сорок").last(ADMIN_ID).text == texts.ERR_NUMBER_FORMAT.format(
        text="сорок", example=49)
    assert harness.send(ADMIN_ID, "50").last(ADMIN_ID).text == texts.EDIT_NO_SUCH.format(
        number=50, example=49)
    assert harness.send(ADMIN_ID, "49").last(ADMIN_ID).text.endswith(texts.EDIT_MENU)
    assert dialog_state(ADMIN_ID) is None


# --- editing fields --------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "typed", "column", "stored"), [
    ("number", "50", "number", 50),
    ("name", "Эвотор 10", "name", "Эвотор 10"),
    ("serial", "ZN-NEW", "serial", "ZN-NEW"),
    ("registered_on", "02.03.2021", "registered_on", date(2021, 3, 2)),
    ("firmware", "5.0", "firmware", "5.0"),
    ("comment", "новый блок", "comment", "новый блок"),
])
def test_edit_each_field(harness, world, field, typed, column, stored):
    admin, *_, device = world
    call = harness.press(ADMIN_ID, f"edf:{device.id}:{field}").last(ADMIN_ID)
    assert call.text.startswith("<b>№49 Эвотор 7.2</b>")
    assert call.button(texts.BTN_BACK) and call.button(texts.BTN_CANCEL)
    call = harness.send(ADMIN_ID, typed).last(ADMIN_ID)
    assert call.text.startswith("Сохранено: ")
    assert call.text.endswith(texts.EDIT_MENU)
    fresh = Device.get_by_id(device.id)
    assert getattr(fresh, column) == stored
    assert fresh.search_text == f"{fresh.name.lower()}\n{fresh.serial.lower()}"
    entry = AuditLog.get(AuditLog.action == "device.edited")
    assert entry.actor_id == admin.id and json.loads(entry.details)["field"] == field
    assert dialog_state(ADMIN_ID) is None


@pytest.mark.parametrize(("field", "typed", "expected"), [
    ("number", "48", lambda: texts.ERR_NUMBER_TAKEN.format(number=48, name="Атол", example=50)),
    ("number", "-3", lambda: texts.ERR_NUMBER_FORMAT.format(text="-3", example=50)),
    ("serial", "sn-00048", lambda: texts.ERR_SERIAL_TAKEN.format(
        serial="SN-00048", number=48, name="Атол", example=texts.EXAMPLE_SERIAL)),
    ("registered_on", "вчера", lambda: texts.ERR_DATE.format(text="вчера",
                                                           example=texts.EXAMPLE_REGISTERED)),
    ("name", "x" * 300, lambda: texts.ERR_TOO_LONG.format(field=texts.FIELD_NAME, limit=200,
                                                          example=texts.EXAMPLE_NAME)),
    ("category", "Пылесос", lambda: texts.ERR_CATEGORY_UNKNOWN.format(text="Пылесос")),
])
def test_edit_uses_the_same_validation_as_add(harness, world, seed, field, typed, expected):
    *_, device = world
    seed.device(48, "Атол", serial="SN-00048")
    harness.press(ADMIN_ID, f"edf:{device.id}:{field}")
    call = harness.send(ADMIN_ID, typed).last(ADMIN_ID)
    assert call.text == expected()
    assert dialog_state(ADMIN_ID) == "edit:value"
    assert Device.get_by_id(device.id).number == 49
    assert not AuditLog.select().where(AuditLog.action == "device.edited").exists()


def test_keeping_its_own_number_and_serial_is_fine(harness, world):
    *_, device = world
    harness.press(ADMIN_ID, f"edf:{device.id}:serial")
    harness.send(ADMIN_ID, "zn-49")
    assert Device.get_by_id(device.id).serial == "zn-49"


def test_edit_category_by_button_new_category_and_clear(harness, world):
    *_, device = world
    scanners = Category.get(Category.name == "Сканер")
    call = harness.press(ADMIN_ID, f"edf:{device.id}:category").last(ADMIN_ID)
    assert call.text == texts.EDIT_ASK_CATEGORY.format(number=49, name="Эвотор 7.2",
                                                       current="Онлайн-касса")
    harness.press(ADMIN_ID, call.button("Сканер")["callback_data"])
    assert Device.get_by_id(device.id).category_id == scanners.id
    harness.press(ADMIN_ID, f"edf:{device.id}:category")
    harness.press(ADMIN_ID, f"edv:{device.id}:category:newcat")
    harness.send(ADMIN_ID, "Весы")
    assert Device.get_by_id(device.id).category.name == "Весы"
    harness.press(ADMIN_ID, f"edf:{device.id}:comment")
    harness.send(ADMIN_ID, "временный")
    harness.press(ADMIN_ID, f"edf:{device.id}:comment")
    call = harness.press(ADMIN_ID, f"edv:{device.id}:comment:clear").last(ADMIN_ID)
    assert call.text.startswith(texts.EDIT_SAVED.format(field=texts.FIELD_COMMENT,
                                                        value=texts.EMPTY_VALUE))
    assert Device.get_by_id(device.id).comment == ""


def test_edit_back_and_cancel_change_nothing(harness, world, sender):
    *_, device = world
    harness.press(ADMIN_ID, f"edf:{device.id}:name")
    call = harness.press(ADMIN_ID, f"edv:{device.id}:name:back").last(ADMIN_ID)
    assert call.text.endswith(texts.EDIT_MENU) and dialog_state(ADMIN_ID) is None
    harness.press(ADMIN_ID, f"edf:{device.id}:name")
    assert harness.send(ADMIN_ID, "/cancel").last(ADMIN_ID).text == texts.CANCELLED
    assert harness.send(ADMIN_ID, "Новое имя").last(ADMIN_ID).text == texts.NOT_FOUND.format(
        query="Новое имя")
    assert Device.get_by_id(device.id).name == "Эвотор 7.2"
    # Buttons of the finished dialogue, and «Очистить» of a required field, are refused.
    harness.press(ADMIN_ID, f"edv:{device.id}:name:back")
    assert sender.alerts()[-1] == texts.STALE_BUTTON
    harness.press(ADMIN_ID, f"edf:{device.id}:name")
    harness.press(ADMIN_ID, f"edv:{device.id}:name:clear")
    assert sender.alerts()[-1] == texts.STALE_BUTTON
    assert Device.get_by_id(device.id).name == "Эвотор 7.2"


# --- assign and unassign ---------------------------------------------------------------------


def test_assign_by_search_pick_place_and_date(harness, world, sender, seed):
    admin, user, other, device = world
    QueueEntry.create(device=device, person=user)
    call = harness.press(ADMIN_ID, f"asg:{device.id}").last(ADMIN_ID)
    assert call.text == texts.ASSIGN_ASK_WHO.format(number=49, name="Эвотор 7.2")
    call = harness.send(ADMIN_ID, "@iv").last(ADMIN_ID)
    assert call.text == texts.ASSIGN_FOUND.format(number=49, name="Эвотор 7.2")
    pick = call.button("Иван Петров")["callback_data"]
    assert pick == f"asgp:{device.id}:{user.id}"
    call = harness.press(ADMIN_ID, pick).last(ADMIN_ID)
    assert call.text == texts.ASSIGN_ASK_PLACE.format(number=49, name="Эвотор 7.2",
                                                      person="Иван Петров (@ivan)")
    call = harness.send(ADMIN_ID, "склад").last(ADMIN_ID)
    assert call.text == texts.ASSIGN_ASK_DUE.format(example="03.12.2026")
    call = harness.send(ADMIN_ID, "10.12.2026").last(ADMIN_ID)
    assert call.text.startswith(texts.ASSIGNED.format(number=49, name="Эвотор 7.2",
                                                      person="Иван Петров (@ivan)"))
    loan = Loan.get()
    assert (loan.person_id, loan.place, loan.due_date, loan.assigned_by_id) == (
        user.id, "склад", date(2026, 12, 10), admin.id)
    assert not QueueEntry.select().exists()
    due = texts.NOTIFY_ASSIGNED_DUE.format(date="10.12.2026")
    assert texts.NOTIFY_ASSIGNED.format(number=49, name="Эвотор 7.2",
                                        due=due) in sender.texts(USER_ID)
    assert AuditLog.get(AuditLog.action == "loan.assigned").actor_id == admin.id


def test_assign_search_by_name_and_email_and_to_a_new_email(harness, world):
    *_, device = world
    harness.press(ADMIN_ID, f"asg:{device.id}")
    call = harness.send(ADMIN_ID, "смирнова").last(ADMIN_ID)
    assert [b["text"] for b in call.buttons][0].startswith("Ольга Смирнова")
    call = harness.send(ADMIN_ID, "nobody").last(ADMIN_ID)
    assert call.text == texts.ASSIGN_NOBODY.format(query="nobody", example=texts.EXAMPLE_EMAIL)
    call = harness.send(ADMIN_ID, "New.Hire@company.ru").last(ADMIN_ID)
    assert call.text == texts.ASSIGN_NEW_EMAIL.format(email="new.hire@company.ru")
    harness.press(ADMIN_ID, call.button("new.hire@company.ru")["callback_data"])
    harness.press(ADMIN_ID, f"asgs:{device.id}:place:skip")
    harness.press(ADMIN_ID, f"asgs:{device.id}:due:pick:none")
    person = Person.get(Person.email == "new.hire@company.ru")
    assert person.telegram_id is None
    loan = Loan.get()
    assert (loan.person_id, loan.place, loan.due_date) == (person.id, "", None)


def test_assign_back_steps_and_stale_buttons(harness, world, sender):
    _, user, _, device = world
    harness.press(ADMIN_ID, f"asg:{device.id}")
    harness.send(ADMIN_ID, "ivan@company.ru")
    harness.press(ADMIN_ID, f"asgp:{device.id}:{user.id}")
    harness.send(ADMIN_ID, "дома")
    call = harness.press(ADMIN_ID, f"asgs:{device.id}:due:back").last(ADMIN_ID)
    assert call.text.startswith(texts.ASSIGN_ASK_PLACE.format(
        number=49, name="Эвотор 7.2", person="Иван Петров (@ivan)"))
    call = harness.press(ADMIN_ID, f"asgs:{device.id}:place:back").last(ADMIN_ID)
    assert call.text == texts.ASSIGN_ASK_WHO.format(number=49, name="Эвотор 7.2")
    harness.press(ADMIN_ID, f"asgs:{device.id}:due:pick:week")
    assert sender.alerts()[-1] == texts.STALE_BUTTON
    harness.send(ADMIN_ID, "/cancel")
    assert not Loan.select().exists()


def test_assign_refused_while_held(harness, world, seed, sender):
    _, user, _, device = world
    seed.loan(device, user)
    harness.press(ADMIN_ID, f"asg:{device.id}")
    assert sender.alerts()[-1] == texts.ASSIGN_ALREADY_HELD.format(holder="Иван Петров")


def test_someone_takes_it_while_the_admin_assigns(harness, world, seed):
    _, user, other, device = world
    harness.press(ADMIN_ID, f"asg:{device.id}")
    harness.send(ADMIN_ID, "ivan@company.ru")
    harness.press(ADMIN_ID, f"asgp:{device.id}:{user.id}")
    harness.press(ADMIN_ID, f"asgs:{device.id}:place:skip")
    seed.loan(device, other)
    call = harness.press(ADMIN_ID, f"asgs:{device.id}:due:pick:none").last(ADMIN_ID)
    assert call.text == texts.ASSIGN_TAKEN.format(number=49, name="Эвотор 7.2",
                                                  holder="Ольга Смирнова (@olga)")
    assert Loan.get().person_id == other.id


def test_unassign_on_behalf_of_the_holder_tells_them(harness, world, seed, sender, clock):
    admin, user, _, device = world
    loan = seed.loan(device, user, due=TODAY + timedelta(days=3))
    call = harness.press(ADMIN_ID, f"edit:{device.id}").last(ADMIN_ID)
    una = call.button(texts.BTN_UNASSIGN)["callback_data"]
    call = harness.press(ADMIN_ID, una).last(ADMIN_ID)
    assert call.text == texts.UNASSIGN_ASK.format(number=49, name="Эвотор 7.2",
                                                  holder="Иван Петров (@ivan)")
    confirm = call.button(texts.BTN_YES_UNASSIGN)["callback_data"]
    assert confirm == f"unao:{device.id}:{loan.id}"
    clock.advance(hours=1)
    call = harness.press(ADMIN_ID, confirm).last(ADMIN_ID)
    assert call.text.startswith(texts.UNASSIGNED.format(number=49, name="Эвотор 7.2",
                                                        holder="Иван Петров (@ivan)"))
    assert Loan.get().returned_at == clock.now
    assert sender.texts(USER_ID)[-1] == texts.NOTIFY_UNASSIGNED.format(number=49,
                                                                       name="Эвотор 7.2")
    entry = AuditLog.get(AuditLog.action == "loan.unassigned")
    assert (entry.actor_id, entry.person_id) == (admin.id, user.id)
    # The confirmation cannot be replayed against a later loan.
    seed.loan(device, user)
    harness.press(ADMIN_ID, confirm)
    assert sender.alerts()[-1] == texts.ALREADY_RETURNED
    assert Loan.select().where(Loan.returned_at.is_null()).count() == 1


# --- history ---------------------------------------------------------------------------------


def test_history_newest_first_paginated_with_who_assigned(harness, world, seed, clock):
    admin, user, other, device = world
    from inventory import loans

    for day in range(10):
        person = user if day % 2 else other
        loans.take(device.id, person, now=clock.now, place=f"место {day}",
                   assigned_by=admin if day == 9 else None)
        clock.advance(days=1)
        if day < 9:
            loans.return_device(device.id, person, now=clock.now)
    call = harness.press(ADMIN_ID, f"hist:{device.id}").last(ADMIN_ID)
    lines = call.text.split("\n")
    assert lines[0] == texts.HISTORY_TITLE.format(number=49, name="Эвотор 7.2", total=10)
    assert lines[2] == texts.HISTORY_LINE.format(
        start="05.12.2026", end=texts.HISTORY_NOW, who="Иван Петров (@ivan)") + \
        texts.HISTORY_PLACE.format(place="место 9") + \
        texts.HISTORY_ASSIGNED_BY.format(admin="Иван")  # the admin's Telegram name now
    assert lines[3].startswith(texts.HISTORY_LINE.format(
        start="04.12.2026", end="05.12.2026", who="Ольга Смирнова (@olga)"))
    assert len(lines) == 2 + 8
    call = harness.press(ADMIN_ID, call.button(texts.BTN_NEXT)["callback_data"]).last(ADMIN_ID)
    assert "место 0" in call.text and "место 9" not in call.text
    assert call.button(texts.BTN_TO_CARD)["callback_data"] == f"card:{device.id}"


def test_history_of_a_device_never_lent(harness, world):
    *_, device = world
    call = harness.press(ADMIN_ID, f"hist:{device.id}:1").last(ADMIN_ID)
    assert call.text.endswith(texts.HISTORY_EMPTY)


# --- delete ----------------------------------------------------------------------------------


def test_delete_is_refused_while_held(harness, world, seed, sender):
    _, user, _, device = world
    seed.loan(device, user)
    harness.press(ADMIN_ID, f"del:{device.id}")
    harness.press(ADMIN_ID, f"delo:{device.id}")
    assert sender.alerts()[-2:] == [texts.DELETE_HELD.format(holder="Иван Петров")] * 2
    assert Device.select().where(Device.id == device.id).exists()


def test_delete_asks_first_and_keeps_history_in_the_audit_log(harness, world, seed, clock):
    admin, user, _, device = world
    seed.loan(device, user, place="склад")
    from inventory import loans

    loans.return_device(device.id, user, now=clock.now)
    QueueEntry.create(device=device, person=user)
    call = harness.press(ADMIN_ID, f"del:{device.id}").last(ADMIN_ID)
    assert call.text == texts.DELETE_ASK.format(number=49, name="Эвотор 7.2")
    assert call.button(texts.BTN_CANCEL)["callback_data"] == f"edit:{device.id}"
    assert Device.select().count() == 1
    call = harness.press(ADMIN_ID, call.button(texts.BTN_YES_DELETE)["callback_data"]
                         ).last(ADMIN_ID)
    assert call.text == texts.DELETED.format(number=49, name="Эвотор 7.2")
    assert not Device.select().exists() and not Loan.select().exists()
    assert not QueueEntry.select().exists()
    entry = AuditLog.get(AuditLog.action == "device.deleted")
    details = json.loads(entry.details)
    assert entry.device_id is None and entry.actor_id == admin.id
    assert details["device_number"] == 49 and details["snapshot"]["serial"] == "ZN-49"
    assert details["loans"][0]["person_email"] == "ivan@company.ru"
    assert details["loans"][0]["place"] == "склад"
    # The old buttons now only say the device is gone.
    harness.press(ADMIN_ID, f"edit:{device.id}")
    assert harness.sender.alerts()[-1] == texts.DEVICE_GONE
