"""/users: search, the person card, change email, comment, history, delete."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from conftest import ADMIN_ID, USER_ID, dialog_state

from handlers import texts
from inventory import loans
from models import AuditLog, Loan, Person, QueueEntry

OTHER_ID = 200
TODAY = date(2026, 11, 26)


@pytest.fixture
def world(seed):
    """An admin, two users, one known only by email, one deleted, and a few devices."""
    admin = seed.person(ADMIN_ID, "admin@company.ru", name="Админ")
    user = seed.person(USER_ID, "ivan@company.ru", name="Иван Петров", username="ivan")
    other = seed.person(OTHER_ID, "olga@company.ru", name="Ольга Смирнова", username="olga")
    pending = seed.person(None, "new.hire@company.ru", name="")
    gone = seed.person(300, "gone@company.ru", name="Ушедший")
    Person.update(deleted_at=seed.clock.now).where(Person.id == gone.id).execute()
    return admin, user, other, pending


def test_users_lists_everyone_active_and_searches_typed_text(harness, world):
    call = harness.send(ADMIN_ID, "/users").last(ADMIN_ID)
    assert call.text == texts.USERS_TITLE.format(total=4)
    labels = [b["text"] for b in call.buttons]
    assert "Ольга Смирнова — olga@company.ru" in labels
    assert not [label for label in labels if "gone@" in label]
    assert dialog_state(ADMIN_ID) == "users:query"
    call = harness.send(ADMIN_ID, "СМИРНОВА").last(ADMIN_ID)  # a single hit opens the card
    assert call.text.startswith(texts.USER_CARD_TITLE.format(name="Ольга Смирнова"))
    assert dialog_state(ADMIN_ID) is None


@pytest.mark.parametrize(("query", "expected"), [
    ("olga@company.ru", "Ольга Смирнова"),
    ("@oLg", "Ольга Смирнова"),
    ("смирн", "Ольга Смирнова"),
    ("new.hire", "new.hire@company.ru"),
])
def test_search_by_email_name_or_username(harness, world, query, expected):
    call = harness.send(ADMIN_ID, f"/users {query}").last(ADMIN_ID)
    assert call.text.startswith(texts.USER_CARD_TITLE.format(name=expected))


def test_several_hits_are_a_list_and_none_is_a_hint(harness, world, seed):
    for n in range(10):
        seed.person(1000 + n, f"tester{n}@company.ru", name=f"Тестер {n}")
    call = harness.send(ADMIN_ID, "/users тестер").last(ADMIN_ID)
    assert call.text == texts.USERS_FOUND.format(query="тестер", total=10)
    assert call.button(texts.BTN_NEXT)["callback_data"] == "usq:2:тестер"
    call = harness.press(ADMIN_ID, "usq:2:тестер").last(ADMIN_ID)
    assert call.method == "editMessageText" and call.button("2/2")
    call = harness.send(ADMIN_ID, "/users никто").last(ADMIN_ID)
    assert call.text == texts.USERS_NOT_FOUND.format(query="никто", example=texts.EXAMPLE_EMAIL)
    # The search goes on with the next typed text.
    assert harness.send(ADMIN_ID, "olga").last(ADMIN_ID).text.startswith(
        texts.USER_CARD_TITLE.format(name="Ольга Смирнова"))


def test_person_card_shows_holdings_queues_comment_reachability_history(harness, world, seed,
                                                                          clock):
    _, user, other, _ = world
    held = seed.device(49, "Эвотор 7.2")
    seed.loan(held, user, due=TODAY + timedelta(days=5))
    old = seed.device(50, "Атол")
    seed.loan(old, user, place="склад")
    loans.return_device(old.id, user, now=clock.now)
    wanted = seed.device(51, "Сканер")
    seed.loan(wanted, other)
    QueueEntry.create(device=wanted, person=user, joined_at=clock.now)
    Person.update(comment="в отпуске <до> 15.12", reachable=False).where(
        Person.id == user.id).execute()
    call = harness.send(ADMIN_ID, "/users ivan@company.ru").last(ADMIN_ID)
    text = call.text
    for line in (texts.USER_EMAIL.format(email="ivan@company.ru"),
                 texts.USER_TELEGRAM.format(telegram="@ivan"),
                 texts.USER_UNREACHABLE,
                 texts.USER_COMMENT.format(comment="в отпуске &lt;до&gt; 15.12"),
                 texts.USER_HOLDS.format(count=1),
                 texts.MINE_LINE.format(number=49, name="Эвотор 7.2",
                                             due=texts.MINE_DUE.format(date="01.12.2026")),
                 texts.USER_QUEUES.format(count=1),
                 texts.USER_QUEUE_LINE.format(number=51, name="Сканер", date="26.11.2026"),
                 texts.USER_HISTORY):
        assert line in text, line
    assert "№50 Атол" in text and texts.HISTORY_PLACE.format(place="склад") in text
    for label in (texts.BTN_USER_EMAIL, texts.BTN_USER_COMMENT, texts.BTN_USER_CLEAR_COMMENT,
                  texts.BTN_USER_HISTORY, texts.BTN_USER_DELETE, "№49 Эвотор 7.2"):
        call.button(label)


def test_card_of_a_person_known_only_by_email(harness, world):
    text = harness.send(ADMIN_ID, "/users new.hire").last(ADMIN_ID).text
    assert texts.USER_TELEGRAM.format(telegram=texts.USER_TELEGRAM_NONE) in text
    assert texts.USER_HOLDS_NOTHING in text and texts.USER_QUEUES_NONE in text


def test_change_email_validated_unique_lower_case(make_harness, world):
    harness = make_harness(email_domains=("company.ru",))
    _, user, other, _ = world
    call = harness.press(ADMIN_ID, f"use:{user.id}").last(ADMIN_ID)
    assert call.text == texts.USER_ASK_EMAIL.format(name="Иван Петров", email="ivan@company.ru",
                                                    example=texts.EXAMPLE_EMAIL)
    assert harness.send(ADMIN_ID, "не почта").last(ADMIN_ID).text == texts.BAD_EMAIL.format(
        text="не почта")
    assert harness.send(ADMIN_ID, "ivan@gmail.com").last(ADMIN_ID).text == \
        texts.ERR_EMAIL_DOMAIN.format(email="ivan@gmail.com", domains="@company.ru",
                                      example="ivan.petrov@company.ru")
    assert harness.send(ADMIN_ID, "OLGA@company.ru").last(ADMIN_ID).text == \
        texts.USER_EMAIL_TAKEN.format(email="olga@company.ru", other="Ольга Смирнова (@olga)")
    assert Person.get_by_id(user.id).email == "ivan@company.ru"
    call = harness.send(ADMIN_ID, "Ivan.Petrov@Company.RU").last(ADMIN_ID)
    assert call.text.startswith(texts.USER_EMAIL_CHANGED.format(email="ivan.petrov@company.ru"))
    assert Person.get_by_id(user.id).email == "ivan.petrov@company.ru"
    details = json.loads(AuditLog.get(AuditLog.action == "person.email_changed").details)
    assert (details["old"], details["new"]) == ("ivan@company.ru", "ivan.petrov@company.ru")
    assert dialog_state(ADMIN_ID) is None


def test_email_of_a_deleted_person_is_still_taken(harness, world):
    _, user, _, _ = world
    harness.press(ADMIN_ID, f"use:{user.id}")
    call = harness.send(ADMIN_ID, "gone@company.ru").last(ADMIN_ID)
    assert call.text == texts.USER_EMAIL_TAKEN.format(email="gone@company.ru", other="Ушедший")


def test_set_and_clear_comment(harness, world):
    _, user, _, _ = world
    call = harness.press(ADMIN_ID, f"usc:{user.id}").last(ADMIN_ID)
    assert call.text == texts.USER_ASK_COMMENT.format(name="Иван Петров",
                                                      example=texts.EXAMPLE_USER_COMMENT,
                                                      current=texts.EMPTY_VALUE)
    assert harness.send(ADMIN_ID, "x" * 1001).last(ADMIN_ID).text == \
        texts.USER_COMMENT_TOO_LONG.format(limit=1000)
    call = harness.send(ADMIN_ID, "в отпуске до 15.12").last(ADMIN_ID)
    assert call.text.startswith(texts.USER_COMMENT_SAVED)
    assert Person.get_by_id(user.id).comment == "в отпуске до 15.12"
    call = harness.press(ADMIN_ID, call.button(texts.BTN_USER_CLEAR_COMMENT)["callback_data"]
                         ).last(ADMIN_ID)
    assert call.text.startswith(texts.USER_COMMENT_CLEARED)
    assert Person.get_by_id(user.id).comment == ""


def test_cancel_an_email_change(harness, world):
    _, user, _, _ = world
    harness.press(ADMIN_ID, f"use:{user.id}")
    assert harness.press(ADMIN_ID, "dlg:cancel").last(ADMIN_ID).text == texts.CANCELLED
    harness.send(ADMIN_ID, "other@company.ru")
    assert Person.get_by_id(user.id).email == "ivan@company.ru"


def test_person_history_is_paginated(harness, world, seed, clock):
    _, user, _, _ = world
    for n in range(1, 11):
        device = seed.device(n, f"Устройство {n}")
        seed.loan(device, user)
        clock.advance(days=1)
        loans.return_device(device.id, user, now=clock.now)
    call = harness.press(ADMIN_ID, f"ush:{user.id}:1").last(ADMIN_ID)
    assert call.text.startswith(texts.HISTORY_PERSON_TITLE.format(person="Иван Петров",
                                                                 total=10))
    assert "№10 Устройство 10" in call.text and "№1 Устройство 1 " not in call.text
    call = harness.press(ADMIN_ID, call.button(texts.BTN_NEXT)["callback_data"]).last(ADMIN_ID)
    assert "№1 Устройство 1" in call.text
    assert call.button(texts.BTN_TO_USER)["callback_data"] == f"usr:{user.id}"


def test_delete_refused_while_holding_and_for_oneself(harness, world, seed, sender):
    admin, user, _, _ = world
    seed.loan(seed.device(49), user)
    harness.press(ADMIN_ID, f"usd:{user.id}")
    harness.press(ADMIN_ID, f"usdo:{user.id}")
    assert sender.alerts()[-2:] == [texts.USER_DELETE_HOLDS.format(count="1 устройство")] * 2
    harness.press(ADMIN_ID, f"usd:{admin.id}")
    assert sender.alerts()[-1] == texts.USER_DELETE_SELF
    assert Person.get_by_id(user.id).deleted_at is None


def test_delete_removes_queue_entries_and_keeps_history(harness, world, seed, clock):
    _, user, other, _ = world
    device = seed.device(49)
    seed.loan(device, user)
    loans.return_device(device.id, user, now=clock.now)
    seed.loan(device, other)
    QueueEntry.create(device=device, person=user)
    call = harness.press(ADMIN_ID, f"usd:{user.id}").last(ADMIN_ID)
    assert call.text == texts.USER_DELETE_ASK.format(name="Иван Петров",
                                                     email="ivan@company.ru", queues="№49")
    assert Person.get_by_id(user.id).deleted_at is None
    call = harness.press(ADMIN_ID, call.button(texts.BTN_YES_DELETE)["callback_data"]
                         ).last(ADMIN_ID)
    assert call.text == texts.USER_DELETED.format(name="Иван Петров", email="ivan@company.ru")
    assert Person.get_by_id(user.id).deleted_at == clock.now
    assert not QueueEntry.select().exists()
    assert Loan.select().where(Loan.person == user.id).count() == 1  # history kept
    assert json.loads(AuditLog.get(AuditLog.action == "person.deleted").details)[
        "queues_left"] == [49]
    # Gone from searches and from the card; the deleted person is asked to register again.
    assert harness.send(ADMIN_ID, "/users ivan").last(ADMIN_ID).text == \
        texts.USERS_NOT_FOUND.format(query="ivan", example=texts.EXAMPLE_EMAIL)
    harness.press(ADMIN_ID, f"usr:{user.id}")
    assert harness.sender.alerts()[-1] == texts.USER_GONE
    assert texts.ASK_EMAIL in harness.send(USER_ID, "49").last(USER_ID).text


def test_card_of_someone_holding_hundreds_stays_within_telegram_limits(harness, world, seed):
    _, user, _, _ = world
    from models import Device

    for n in range(1, 151):
        seed.loan(seed.device(n, f"Очень длинное название устройства номер {n}"), user)
    call = harness.send(ADMIN_ID, "/users ivan@company.ru").last(ADMIN_ID)
    assert len(call.text) < 4096
    assert texts.USER_HOLDS.format(count=150) in call.text
    assert texts.USER_MORE.format(count=130) in call.text
    assert len(call.buttons) < 20
    assert Device.select().count() == 150
