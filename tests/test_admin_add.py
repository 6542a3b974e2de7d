"""/add: every dialogue step — the happy path, wrong answers, «Пропустить», «Назад», /cancel."""

from __future__ import annotations

from datetime import date

import pytest
from conftest import ADMIN_ID, USER_ID

from handlers import texts
from inventory import people
from models import AuditLog, Category, Device, DialogState, Loan, Person


def ask(step: int, template: str, **fmt: object) -> str:
    """The expected question of a step."""
    return texts.ADD_STEP.format(step=step, steps=8) + template.format(**fmt)


@pytest.fixture
def world(seed):
    """An admin, a registered user, two categories and device 48 (so 49 is the next number)."""
    admin = seed.person(ADMIN_ID, "admin@company.ru", name="Админ")
    user = seed.person(USER_ID, "ivan@company.ru", name="Иван Петров", username="ivan")
    seed.category("Онлайн-касса")
    scanners = seed.category("Сканер")
    seed.device(48, "Атол", serial="SN-00048")
    return admin, user, scanners


class Dialogue:
    """Drives /add for the admin and returns what the bot said last."""

    def __init__(self, harness) -> None:
        self.harness = harness

    def say(self, text: str):
        return self.harness.send(ADMIN_ID, text).last(ADMIN_ID)

    def press(self, data: str):
        return self.harness.press(ADMIN_ID, data).last(ADMIN_ID)

    def to_step(self, step: str, *, scanners: Category) -> object:
        """Answer every step before `step` with good values."""
        answers = [("say", "/add"), ("say", "49"), ("say", "Эвотор 7.2"),
                   ("press", f"add:category:cat:{scanners.id}"), ("say", "ZN-001"),
                   ("say", "01.02.2024"), ("say", "4.9"), ("say", "с блоком питания"),
                   ("say", "ivan@company.ru"), ("say", "офис, 3 этаж")]
        order = ["start", "number", "name", "category", "serial", "registered_on", "firmware",
                 "comment", "holder", "place", "due"]
        call = None
        for kind, value in answers[:order.index(step)]:
            call = getattr(self, kind)(value)
        return call


@pytest.fixture
def dialogue(harness):
    return Dialogue(harness)


def labels(call) -> list[str]:
    return [b["text"] for b in call.buttons]


def test_happy_path_through_every_step(dialogue, world, sender, clock):
    admin, user, scanners = world
    call = dialogue.say("/add")
    assert call.text == ask(1, texts.ADD_ASK_NUMBER, example=49)
    assert labels(call) == [texts.BTN_CANCEL]  # no «Назад» on the first step
    call = dialogue.say("49")
    assert call.text == ask(2, texts.ADD_ASK_NAME, example=texts.EXAMPLE_NAME)
    call = dialogue.say("Эвотор 7.2")
    assert call.text == ask(3, texts.ADD_ASK_CATEGORY)
    assert labels(call)[:3] == ["Онлайн-касса", "Сканер", texts.BTN_NEW_CATEGORY]
    call = dialogue.press(call.button("Сканер")["callback_data"])
    assert call.text == ask(4, texts.ADD_ASK_SERIAL, example=texts.EXAMPLE_SERIAL)
    call = dialogue.say("ZN-001")
    assert call.text == ask(5, texts.ADD_ASK_REGISTERED, example=texts.EXAMPLE_REGISTERED)
    assert texts.BTN_SKIP in labels(call) and texts.BTN_BACK in labels(call)
    call = dialogue.say("01.02.2024")
    assert call.text == ask(6, texts.ADD_ASK_FIRMWARE, example=texts.EXAMPLE_FIRMWARE)
    call = dialogue.say("4.9")
    assert call.text == ask(7, texts.ADD_ASK_COMMENT, example=texts.EXAMPLE_COMMENT)
    call = dialogue.say("с блоком питания")
    assert call.text == ask(8, texts.ADD_ASK_HOLDER, example=texts.EXAMPLE_EMAIL)
    call = dialogue.say("Ivan@Company.ru")
    assert call.text == ask(8, texts.ADD_ASK_PLACE, holder="ivan@company.ru")
    call = dialogue.say("офис, 3 этаж")
    assert call.text == ask(8, texts.ADD_ASK_DUE, holder="ivan@company.ru",
                            example="03.12.2026")
    call = dialogue.press("add:due:due:week")
    assert call.text.startswith("<b>Проверьте новое устройство</b>")
    for line in (texts.CARD_TITLE.format(number=49, name="Эвотор 7.2"),
                 texts.CARD_CATEGORY.format(category="Сканер"),
                 texts.CARD_SERIAL.format(serial="ZN-001"),
                 texts.CARD_REGISTERED.format(date="01.02.2024"),
                 texts.CARD_FIRMWARE.format(firmware="4.9"),
                 texts.CARD_COMMENT.format(comment="с блоком питания"),
                 texts.ADD_SUMMARY_HOLDER.format(email="ivan@company.ru",
                                                 status=texts.ADD_HOLDER_REGISTERED),
                 texts.STATE_PLACE.format(place="офис, 3 этаж"),
                 texts.STATE_DUE.format(date="03.12.2026")):
        assert line in call.text
    assert Device.select().count() == 1  # nothing written before «Подтвердить»
    call = dialogue.press(call.button(texts.BTN_CONFIRM)["callback_data"])
    assert call.text.startswith(texts.ADD_DONE.format(number=49, name="Эвотор 7.2"))
    device = Device.get(Device.number == 49)
    assert (device.name, device.category_id, device.serial, device.registered_on,
            device.firmware, device.comment) == ("Эвотор 7.2", scanners.id, "ZN-001",
                                                 date(2024, 2, 1), "4.9", "с блоком питания")
    assert device.search_text == "эвотор 7.2\nzn-001"
    loan = Loan.get(Loan.device == device)
    assert (loan.person_id, loan.place, loan.due_date, loan.assigned_by_id) == (
        user.id, "офис, 3 этаж", date(2026, 12, 3), admin.id)
    assert {a.action for a in AuditLog.select()} >= {"device.created", "loan.assigned"}
    due = texts.NOTIFY_ASSIGNED_DUE.format(date="03.12.2026")
    assert texts.NOTIFY_ASSIGNED.format(number=49, name="Эвотор 7.2", due=due
                                        ) in sender.texts(USER_ID)
    assert DialogState.get(DialogState.chat_id == ADMIN_ID).state is None
    # A user now finds it.
    assert dialogue.harness.send(USER_ID, "zn-001").last(USER_ID).text.startswith(
        texts.CARD_TITLE.format(number=49, name="Эвотор 7.2"))


@pytest.mark.parametrize(("step", "answer", "expected"), [
    ("number", "сорок девять", lambda: texts.ERR_NUMBER_FORMAT.format(text="сорок девять",
                                                                       example=49)),
    ("number", "0", lambda: texts.ERR_NUMBER_FORMAT.format(text="0", example=49)),
    ("number", "48", lambda: 'Номер 48 уже занят устройством "Атол". Напишите другой номер, '
                             "например <code>49</code>."),
    ("name", "x" * 201, lambda: texts.ERR_TOO_LONG.format(field=texts.FIELD_NAME, limit=200,
                                                          example=texts.EXAMPLE_NAME)),
    ("category", "Пылесос", lambda: texts.ERR_CATEGORY_UNKNOWN.format(text="Пылесос")),
    ("serial", "sn-00048", lambda: texts.ERR_SERIAL_TAKEN.format(
        serial="SN-00048", number=48, name="Атол", example=texts.EXAMPLE_SERIAL)),
    ("registered_on", "31.02.2024", lambda: texts.ERR_DATE.format(
        text="31.02.2024", example=texts.EXAMPLE_REGISTERED)),
    ("firmware", "9" * 201, lambda: texts.ERR_TOO_LONG.format(
        field=texts.FIELD_FIRMWARE, limit=200, example=texts.EXAMPLE_FIRMWARE)),
    ("comment", "c" * 1001, lambda: texts.ERR_TOO_LONG.format(
        field=texts.FIELD_COMMENT, limit=1000, example=texts.EXAMPLE_COMMENT)),
    ("holder", "ivan at company", lambda: texts.BAD_EMAIL.format(text="ivan at company")),
    ("place", "п" * 201, lambda: texts.PLACE_TOO_LONG.format(limit=200)),
    ("due", "вчера", lambda: texts.BAD_DATE.format(text="вчера", example="03.12.2026")),
    ("due", "01.11.2026", lambda: texts.PAST_DATE.format(date="01.11.2026",
                                                          example="03.12.2026")),
])
def test_wrong_answer_is_asked_again_with_reason_and_example(dialogue, world, step, answer,
                                                             expected):
    _, _, scanners = world
    before = dialogue.to_step(step, scanners=scanners)
    call = dialogue.say(answer)
    assert call.text == expected()
    # The same step's buttons come along, and the dialogue stays on that step.
    assert labels(call)[-1] == texts.BTN_CANCEL
    assert DialogState.get(DialogState.chat_id == ADMIN_ID).state == f"add:{step}"
    assert labels(call) == labels(before)
    assert Device.select().count() == 1


def test_email_outside_allowed_domains(make_harness, world):
    _, _, scanners = world
    dialogue = Dialogue(make_harness(email_domains=("company.ru",)))
    dialogue.to_step("holder", scanners=scanners)
    call = dialogue.say("ivan@gmail.com")
    assert call.text == texts.ERR_EMAIL_DOMAIN.format(
        email="ivan@gmail.com", domains="@company.ru", example="ivan.petrov@company.ru")


def test_typed_category_and_a_new_category(dialogue, world):
    dialogue.say("/add")
    dialogue.say("49")
    dialogue.say("Эвотор")
    call = dialogue.say("сканер")  # typed, case-insensitive
    assert call.text == ask(4, texts.ADD_ASK_SERIAL, example=texts.EXAMPLE_SERIAL)
    call = dialogue.press("add:serial:back")
    call = dialogue.press("add:category:newcat")
    assert call.text == ask(3, texts.ADD_ASK_NEW_CATEGORY, example=texts.EXAMPLE_CATEGORY)
    call = dialogue.say("Счётчик   купюр")
    assert call.text == ask(4, texts.ADD_ASK_SERIAL, example=texts.EXAMPLE_SERIAL)
    # «Назад» from the serial goes back to the new category's name.
    call = dialogue.press("add:serial:back")
    assert call.text.startswith(ask(3, texts.ADD_ASK_NEW_CATEGORY,
                                    example=texts.EXAMPLE_CATEGORY))
    assert texts.ADD_CURRENT.format(value="Счётчик купюр") in call.text
    dialogue.say("Счётчик купюр")
    dialogue.say("SC-1")
    for step in ("registered_on", "firmware", "comment", "holder"):
        dialogue.press(f"add:{step}:skip")
    dialogue.press("add:confirm:ok")
    assert Device.get(Device.number == 49).category.name == "Счётчик купюр"
    assert Category.select().where(Category.name == "Счётчик купюр").count() == 1


def test_skip_every_optional_step(dialogue, world, sender):
    _, _, scanners = world
    dialogue.to_step("registered_on", scanners=scanners)
    call = dialogue.press("add:registered_on:skip")
    assert call.text == ask(6, texts.ADD_ASK_FIRMWARE, example=texts.EXAMPLE_FIRMWARE)
    dialogue.press("add:firmware:skip")
    dialogue.press("add:comment:skip")
    call = dialogue.press("add:holder:skip")
    assert texts.ADD_SUMMARY_FREE in call.text
    assert texts.CARD_FIRMWARE.format(firmware=texts.EMPTY_VALUE) in call.text
    dialogue.press("add:confirm:ok")
    device = Device.get(Device.number == 49)
    assert (device.registered_on, device.firmware, device.comment) == (None, "", "")
    assert not Loan.select().where(Loan.device == device).exists()
    # A skip button of a step already passed does nothing.
    dialogue.press("add:firmware:skip")
    assert sender.alerts()[-1] == texts.STALE_BUTTON


def test_skip_place_then_no_due_date(dialogue, world):
    _, user, scanners = world
    dialogue.to_step("place", scanners=scanners)
    call = dialogue.press("add:place:skip")
    assert call.text == ask(8, texts.ADD_ASK_DUE, holder="ivan@company.ru",
                            example="03.12.2026")
    call = dialogue.press("add:due:due:none")
    assert texts.STATE_NO_DUE in call.text
    dialogue.press("add:confirm:ok")
    loan = Loan.get()
    assert (loan.person_id, loan.place, loan.due_date) == (user.id, "", None)


def test_typed_due_date(dialogue, world):
    _, _, scanners = world
    dialogue.to_step("due", scanners=scanners)
    call = dialogue.say("20.12")
    assert texts.STATE_DUE.format(date="20.12.2026") in call.text
    dialogue.press("add:confirm:ok")
    assert Loan.get().due_date == date(2026, 12, 20)


def test_back_returns_to_the_previous_step_showing_the_answer(dialogue, world, sender):
    _, _, scanners = world
    dialogue.to_step("serial", scanners=scanners)
    call = dialogue.press("add:serial:back")
    assert call.text.startswith(ask(3, texts.ADD_ASK_CATEGORY))
    assert texts.ADD_CURRENT.format(value="Сканер") in call.text
    call = dialogue.press("add:category:back")
    assert call.text == ask(2, texts.ADD_ASK_NAME, example=texts.EXAMPLE_NAME) + "\n" + \
        texts.ADD_CURRENT.format(value="Эвотор 7.2")
    call = dialogue.press("add:name:back")
    assert call.text.startswith(ask(1, texts.ADD_ASK_NUMBER, example=49))
    assert texts.ADD_CURRENT.format(value="49") in call.text
    # Change the number and walk forward again.
    dialogue.say("50")
    dialogue.say("Эвотор 7.2")
    dialogue.press(f"add:category:cat:{scanners.id}")
    dialogue.say("ZN-001")
    for step in ("registered_on", "firmware", "comment", "holder"):
        dialogue.press(f"add:{step}:skip")
    # From the summary «Назад» goes to the holder question (no holder given).
    call = dialogue.press("add:confirm:back")
    assert call.text.startswith(ask(8, texts.ADD_ASK_HOLDER, example=texts.EXAMPLE_EMAIL))
    dialogue.say("ivan@company.ru")
    dialogue.press("add:place:skip")
    dialogue.press("add:due:due:week")
    call = dialogue.press("add:confirm:back")  # with a holder: back to the due date
    assert call.text == ask(8, texts.ADD_ASK_DUE, holder="ivan@company.ru",
                            example="03.12.2026")
    call = dialogue.press("add:due:back")
    assert call.text == ask(8, texts.ADD_ASK_PLACE, holder="ivan@company.ru")
    dialogue.press("add:place:skip")
    dialogue.press("add:due:due:none")
    dialogue.press("add:confirm:ok")
    assert Device.get(Device.number == 50).serial == "ZN-001"
    # A «Назад» of an earlier step is stale now.
    dialogue.press("add:name:back")
    assert sender.alerts()[-1] == texts.STALE_BUTTON


@pytest.mark.parametrize("step", ["number", "name", "category", "serial", "registered_on",
                                  "firmware", "comment", "holder", "place", "due", "confirm"])
@pytest.mark.parametrize("how", ["command", "button"])
def test_cancel_at_any_step_leaves_nothing(dialogue, world, step, how, sender):
    _, _, scanners = world
    if step == "confirm":
        dialogue.to_step("due", scanners=scanners)
        dialogue.press("add:due:due:week")
    else:
        dialogue.to_step(step, scanners=scanners)
    before = (Device.select().count(), Person.select().count(), Loan.select().count(),
              Category.select().count(), AuditLog.select().count())
    call = dialogue.say("/cancel") if how == "command" else dialogue.press("dlg:cancel")
    assert call.text == texts.CANCELLED
    assert (Device.select().count(), Person.select().count(), Loan.select().count(),
            Category.select().count(), AuditLog.select().count()) == before
    assert Dialogue_state() is None
    # The dialogue's buttons are stale and typed text is a search again.
    dialogue.press("add:confirm:ok")
    assert sender.alerts()[-1] == texts.STALE_BUTTON
    assert dialogue.say("ZN-001").text == texts.NOT_FOUND.format(query="ZN-001")
    assert Device.select().count() == 1


def Dialogue_state() -> str | None:  # noqa: N802 - reads like a value in the asserts
    row = DialogState.get_or_none(DialogState.chat_id == ADMIN_ID)
    return row.state if row else None


def test_a_restart_in_the_middle_loses_nothing(make_harness, world):
    _, _, scanners = world
    first = Dialogue(make_harness())
    first.to_step("firmware", scanners=scanners)
    second = Dialogue(make_harness())  # a new bot process on the same database
    call = second.say("4.9")
    assert call.text == ask(7, texts.ADD_ASK_COMMENT, example=texts.EXAMPLE_COMMENT)
    second.press("add:comment:skip")
    second.press("add:holder:skip")
    second.press("add:confirm:ok")
    device = Device.get(Device.number == 49)
    assert (device.name, device.serial, device.registered_on, device.firmware) == (
        "Эвотор 7.2", "ZN-001", date(2024, 2, 1), "4.9")


def test_holder_not_yet_registered_is_linked_on_registration(dialogue, world, clock):
    _, _, scanners = world
    dialogue.to_step("holder", scanners=scanners)
    dialogue.say("new.person@company.ru")
    dialogue.press("add:place:skip")
    call = dialogue.press("add:due:due:none")
    assert texts.ADD_SUMMARY_HOLDER.format(email="new.person@company.ru",
                                           status=texts.ADD_HOLDER_UNREGISTERED) in call.text
    dialogue.press("add:confirm:ok")
    person = Person.get(Person.email == "new.person@company.ru")
    assert person.telegram_id is None
    assert Loan.get().person_id == person.id
    linked = people.register(777, "New.Person@company.ru", name="Новый", username="",
                             domains=(), now=clock.now)
    assert linked.id == person.id


def test_number_taken_meanwhile_is_asked_again_then_back_to_summary(dialogue, world, seed):
    _, _, scanners = world
    dialogue.to_step("holder", scanners=scanners)
    dialogue.press("add:holder:skip")
    seed.device(49, "Успели раньше", serial="OTHER")
    call = dialogue.press("add:confirm:ok")
    assert call.text == texts.ERR_NUMBER_TAKEN.format(number=49, name="Успели раньше",
                                                      example=50)
    call = dialogue.say("50")
    assert call.text.startswith("<b>Проверьте новое устройство</b>")
    dialogue.press("add:confirm:ok")
    assert Device.get(Device.number == 50).name == "Эвотор 7.2"


def test_values_are_escaped_in_the_summary(dialogue, world):
    dialogue.say("/add")
    dialogue.say("49")
    dialogue.say("<b>Эвотор & Co</b>")
    dialogue.say("Сканер")
    dialogue.say("<i>SN</i>")
    for step in ("registered_on", "firmware", "comment", "holder"):
        call = dialogue.press(f"add:{step}:skip")
    assert "&lt;b&gt;Эвотор &amp; Co&lt;/b&gt;" in call.text
    assert "<code>&lt;i&gt;SN&lt;/i&gt;</code>" in call.text


def test_a_photo_instead_of_text_is_asked_again(harness, dialogue, world):
    dialogue.say("/add")
    harness.update({"update_id": 99_001, "message": {
        "message_id": 99_001, "date": 1_700_000_000,
        "chat": {"id": ADMIN_ID, "type": "private"},
        "from": {"id": ADMIN_ID, "is_bot": False, "first_name": "Админ"},
        "photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]}})
    assert harness.sender.last(ADMIN_ID).text == texts.ERR_TEXT_ONLY.format(example="49")
    assert Dialogue_state() == "add:number"
