"""Registration rules, /start, /help and the fallback, through updates in and API calls out."""

from __future__ import annotations

from conftest import ADMIN_ID, DEV_ID, USER_ID

from handlers import texts
from models import AuditLog, Person


def test_new_person_is_asked_for_email(harness):
    sent = harness.send(USER_ID, "привет")
    assert sent.last(USER_ID).text.startswith(texts.ASK_EMAIL.split("\n")[0])
    assert Person.select().count() == 0


def test_valid_email_registers_and_shows_help(harness):
    sent = harness.send(USER_ID, "/start")
    sent = harness.send(USER_ID, "  Ivan.Petrov@Company.RU ")
    person = Person.get(Person.telegram_id == USER_ID)
    assert person.email == "ivan.petrov@company.ru"
    assert person.name == "Иван Петров" and person.username == f"user{USER_ID}"
    assert texts.REGISTERED.format(email="ivan.petrov@company.ru") in sent.texts(USER_ID)
    assert sent.last(USER_ID).text == texts.HELP_USER
    assert AuditLog.get().action == "person.registered"


def test_malformed_email_is_asked_again_with_hint(harness):
    harness.send(USER_ID, "/start")
    sent = harness.send(USER_ID, "ivan at company")
    assert sent.last(USER_ID).text == texts.BAD_EMAIL.format(text="ivan at company")
    assert Person.select().count() == 0
    harness.send(USER_ID, "ivan@company.ru")
    assert Person.select().count() == 1


def test_email_outside_allowed_domains_is_refused(make_harness):
    harness = make_harness(email_domains=("company.ru",))
    sent = harness.send(USER_ID, "ivan@gmail.com")
    assert sent.last(USER_ID).text == texts.DOMAIN_REFUSED.format(
        email="ivan@gmail.com", domains="@company.ru")
    assert Person.select().count() == 0
    harness.send(USER_ID, "ivan@company.ru")
    assert Person.get().email == "ivan@company.ru"


def test_email_of_another_account_is_refused(harness):
    harness.send(USER_ID, "ivan@company.ru")
    sent = harness.send(USER_ID + 1, "IVAN@company.ru")
    assert sent.last(USER_ID + 1).text == texts.EMAIL_TAKEN.format(email="ivan@company.ru")
    assert Person.select().count() == 1
    assert Person.get().telegram_id == USER_ID


def test_start_again_when_registered(harness):
    harness.send(USER_ID, "ivan@company.ru")
    harness.sender.clear()
    sent = harness.send(USER_ID, "/start")
    assert sent.texts(USER_ID) == [
        texts.ALREADY_REGISTERED.format(email="ivan@company.ru"), texts.HELP_USER]
    assert Person.select().count() == 1


def test_import_only_person_is_linked_on_registration(harness, conn):
    Person.create(email="olga@company.ru", name="Ольга")
    harness.send(USER_ID, "olga@company.ru")
    assert Person.select().count() == 1
    assert Person.get().telegram_id == USER_ID


def test_help_depends_on_role(harness):
    harness.send(ADMIN_ID, "admin@company.ru")
    harness.send(DEV_ID, "dev@company.ru")
    harness.send(USER_ID, "user@company.ru")
    harness.sender.clear()
    assert harness.send(USER_ID, "/help").last(USER_ID).text == texts.HELP_USER
    assert harness.send(ADMIN_ID, "/help").last(ADMIN_ID).text == texts.HELP_USER + texts.HELP_ADMIN
    assert harness.send(DEV_ID, "/help").last(DEV_ID).text == (
        texts.HELP_USER + texts.HELP_DEVELOPER)


def test_button_press_before_registration_asks_for_email(harness):
    sent = harness.press(USER_ID, "card:1")
    assert texts.NEED_REGISTRATION in sent.alerts()
    assert sent.last(USER_ID).text.startswith(texts.ASK_EMAIL.split("\n")[0])


def test_user_input_is_escaped_in_replies(harness):
    harness.send(USER_ID, "/start")
    sent = harness.send(USER_ID, "<b>me</b>")
    assert "&lt;b&gt;me&lt;/b&gt;" in sent.last(USER_ID).text


def test_group_messages_are_ignored(harness):
    update = {"update_id": 99, "message": {
        "message_id": 5, "date": 0, "text": "49", "chat": {"id": -100123, "type": "supergroup"},
        "from": {"id": USER_ID, "is_bot": False, "first_name": "Иван"}}}
    assert harness.update(update).calls == []
    assert Person.select().count() == 0


def test_unregistered_developer_typing_the_code_never_sees_it_echoed(harness, config):
    harness.send(DEV_ID, "/start")
    sent = harness.send(DEV_ID, config.developer_code)
    assert sent.of("deleteMessage")
    assert all(config.developer_code not in t for t in sent.texts())
    assert Person.select().count() == 0
