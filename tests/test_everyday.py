"""Everyday use through updates in / Bot API calls out: search, card, lists, take, return."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from conftest import ADMIN_ID, USER_ID, message_update

from handlers import texts
from inventory.devices import PAGE_SIZE
from models import AuditLog, Device, Loan

OTHER_ID = 200
TODAY = date(2026, 11, 26)


@pytest.fixture
def people(seed):
    """A registered user, a colleague and an admin."""
    return (seed.person(USER_ID, name="Иван Петров", username="ivan"),
            seed.person(OTHER_ID, name="Ольга Смирнова", username="olga"),
            seed.person(ADMIN_ID, name="Админ"))


# --- search ----------------------------------------------------------------------------------


def test_search_by_number_opens_card(harness, seed, people):
    device = seed.device(49, "Эвотор 7.2", serial="ZN-001", firmware="4.9",
                         registered_on=date(2024, 2, 1), comment="с блоком питания")
    call = harness.send(USER_ID, "49").last(USER_ID)
    assert call.text.startswith(texts.CARD_TITLE.format(number=49, name="Эвотор 7.2"))
    for line in (texts.CARD_CATEGORY.format(category="Онлайн-касса"),
                 texts.CARD_SERIAL.format(serial="ZN-001"),
                 texts.CARD_FIRMWARE.format(firmware="4.9"),
                 texts.CARD_REGISTERED.format(date="01.02.2024"),
                 texts.CARD_COMMENT.format(comment="с блоком питания"), texts.STATE_FREE):
        assert line in call.text
    assert call.button(texts.BTN_TAKE)["callback_data"] == f"take:{device.id}"
    assert not [b for b in call.buttons if b["text"] == texts.BTN_RETURN]


def test_search_by_serial_and_name_ignores_case_and_yo(harness, seed, people):
    seed.device(1, "Сканер Ёлка", serial="ABC-777")
    seed.device(2, "Весы Штрих", serial="XYZ-123")
    assert harness.send(USER_ID, "abc-7").last(USER_ID).text.startswith(
        texts.CARD_TITLE.format(number=1, name="Сканер Ёлка"))
    assert harness.send(USER_ID, "ЕЛКА").last(USER_ID).text.startswith(
        texts.CARD_TITLE.format(number=1, name="Сканер Ёлка"))


def test_search_with_several_hits_gives_paginated_list(harness, seed, people):
    for n in range(1, 12):
        seed.device(n, f"Эвотор {n}")
    call = harness.send(USER_ID, "эвотор").last(USER_ID)
    assert call.text.startswith(texts.LIST_SEARCH.format(query="эвотор", total=11))
    assert len([b for b in call.buttons if b["callback_data"].startswith("card:")]) == PAGE_SIZE
    nxt = call.button(texts.BTN_NEXT)
    call = harness.press(USER_ID, nxt["callback_data"]).last(USER_ID)
    assert call.method == "editMessageText"
    assert "<b>9</b> Эвотор 9" in call.text and "<b>1</b> Эвотор 1 " not in call.text


def test_search_miss_suggests_all(harness, seed, people):
    assert harness.send(USER_ID, "нет такого").last(USER_ID).text == texts.NOT_FOUND.format(
        query="нет такого")


def test_admin_finds_what_a_person_holds(harness, seed, people):
    user, _, _ = people
    seed.loan(seed.device(5, "Атол 30Ф"), user, due=TODAY + timedelta(days=3))
    call = harness.send(ADMIN_ID, "@ivan").last(ADMIN_ID)
    assert call.text.startswith(texts.PERSON_HOLDS.format(person="Иван Петров",
                                                          email=user.email, count=1))
    assert "Атол 30Ф" in call.text
    call = harness.send(ADMIN_ID, user.email.upper()).last(ADMIN_ID)
    assert "Атол 30Ф" in call.text
    # Not for ordinary users: an email is just a search for them.
    assert harness.send(USER_ID, "@ivan").last(USER_ID).text == texts.NOT_FOUND.format(
        query="@ivan")


# --- card states -----------------------------------------------------------------------------


def test_card_shows_holder_since_until_and_place(harness, seed, people):
    _, other, _ = people
    device = seed.device(7)
    seed.loan(device, other, due=TODAY + timedelta(days=5), place="офис, 3 этаж")
    text = harness.send(USER_ID, "7").last(USER_ID).text
    assert texts.STATE_HELD.format(holder="Ольга Смирнова (@olga)", since="26.11.2026") in text
    assert texts.STATE_DUE.format(date="01.12.2026") in text
    assert texts.STATE_PLACE.format(place="офис, 3 этаж") in text


def test_card_shows_overdue_days(harness, seed, people, clock):
    _, other, _ = people
    seed.loan(seed.device(7), other, due=TODAY + timedelta(days=1))
    clock.advance(days=4)
    text = harness.send(USER_ID, "7").last(USER_ID).text
    assert texts.STATE_OVERDUE.format(days="3 дня", date="27.11.2026") in text


def test_holder_sees_return_and_change_buttons(harness, seed, people):
    user, _, _ = people
    device = seed.device(7)
    seed.loan(device, user)
    call = harness.send(USER_ID, "7").last(USER_ID)
    labels = [b["text"] for b in call.buttons]
    assert texts.BTN_RETURN in labels and texts.BTN_CHANGE_DUE in labels
    assert texts.BTN_TAKE not in labels


def test_html_in_device_fields_is_displayed_literally(harness, seed, people):
    seed.device(8, "<b>Эвотор & Co</b>", serial="<i>SN</i>", comment="a < b")
    call = harness.send(USER_ID, "8").last(USER_ID)
    assert "&lt;b&gt;Эвотор &amp; Co&lt;/b&gt;" in call.text
    assert "<code>&lt;i&gt;SN&lt;/i&gt;</code>" in call.text
    assert "a &lt; b" in call.text


# --- take ------------------------------------------------------------------------------------


def test_take_with_place_and_date_button(harness, seed, people, conn):
    device = seed.device(49)
    sent = harness.press(USER_ID, f"take:{device.id}")
    assert sent.last(USER_ID).text == texts.ASK_PLACE.format(number=49, name="Эвотор 7.2")
    sent = harness.send(USER_ID, "дома")
    assert sent.last(USER_ID).text == texts.ASK_DUE.format(example="03.12.2026")
    sent = harness.press(USER_ID, "tkd:week")
    assert sent.last(USER_ID).text.startswith(texts.TAKEN.format(number=49, name="Эвотор 7.2"))
    loan = Loan.get()
    assert (loan.person.telegram_id, loan.place, loan.due_date) == (USER_ID, "дома",
                                                                   date(2026, 12, 3))
    assert AuditLog.get(AuditLog.action == "loan.taken").device_id == device.id


@pytest.mark.parametrize(("typed", "expected"), [
    ("15.12.2026", date(2026, 12, 15)), ("15.12", date(2026, 12, 15)),
    ("5.1.27", date(2027, 1, 5)), ("05.01", date(2027, 1, 5)),
])
def test_take_with_typed_date(harness, seed, people, typed, expected):
    device = seed.device(49)
    harness.press(USER_ID, f"take:{device.id}")
    harness.press(USER_ID, "tkp:skip")
    harness.send(USER_ID, typed)
    loan = Loan.get()
    assert (loan.place, loan.due_date) == ("", expected)


@pytest.mark.parametrize("choice,days", [("today", 0), ("tomorrow", 1), ("2weeks", 14)])
def test_take_date_buttons(harness, seed, people, choice, days):
    harness.press(USER_ID, f"take:{seed.device(49).id}")
    harness.press(USER_ID, "tkp:skip")
    harness.press(USER_ID, f"tkd:{choice}")
    assert Loan.get().due_date == TODAY + timedelta(days=days)


def test_take_without_due_date(harness, seed, people):
    harness.press(USER_ID, f"take:{seed.device(49).id}")
    harness.press(USER_ID, "tkp:skip")
    harness.press(USER_ID, "tkd:none")
    assert Loan.get().due_date is None


def test_past_or_nonsense_date_is_asked_again(harness, seed, people):
    harness.press(USER_ID, f"take:{seed.device(49).id}")
    harness.send(USER_ID, "стол")
    sent = harness.send(USER_ID, "вчера")
    assert sent.last(USER_ID).text == texts.BAD_DATE.format(text="вчера", example="03.12.2026")
    sent = harness.send(USER_ID, "01.11.2026")
    assert sent.last(USER_ID).text == texts.PAST_DATE.format(date="01.11.2026",
                                                             example="03.12.2026")
    assert Loan.select().count() == 0
    harness.send(USER_ID, "01.12.2026")
    assert Loan.get().due_date == date(2026, 12, 1)


@pytest.mark.parametrize("how", ["command", "button"])
def test_cancel_at_any_step_leaves_nothing(harness, seed, people, how):
    harness.press(USER_ID, f"take:{seed.device(49).id}")
    harness.send(USER_ID, "дома")
    sent = harness.send(USER_ID, "/cancel") if how == "command" else harness.press(
        USER_ID, "dlg:cancel")
    assert sent.last(USER_ID).text == texts.CANCELLED
    assert Loan.select().count() == 0
    # The next text is a search again, not a date.
    assert harness.send(USER_ID, "15.12").last(USER_ID).text == texts.NOT_FOUND.format(
        query="15.12")
    # A stale date button from the cancelled dialogue does nothing.
    harness.press(USER_ID, "tkd:week")
    assert texts.STALE_BUTTON in harness.sender.alerts()
    assert Loan.select().count() == 0


def test_someone_else_took_it_meanwhile(harness, seed, people):
    _, other, _ = people
    device = seed.device(49)
    harness.press(USER_ID, f"take:{device.id}")
    harness.press(USER_ID, "tkp:skip")
    seed.loan(device, other, place="склад")
    sent = harness.press(USER_ID, "tkd:week")
    assert sent.last(USER_ID).text == texts.TAKEN_BY_OTHER.format(
        number=49, name="Эвотор 7.2", holder="Ольга Смирнова (@olga)")
    loan = Loan.get()
    assert (loan.person_id, loan.place) == (other.id, "склад")


def test_take_button_on_a_taken_device_names_the_holder(harness, seed, people):
    _, other, _ = people
    device = seed.device(49)
    seed.loan(device, other)
    sent = harness.press(USER_ID, f"take:{device.id}")
    # An old card, not a dialogue: who has it now, and the card brought up to date.
    call = sent.last(USER_ID)
    assert call.text.startswith(texts.TAKE_HELD_NOW.format(
        number=49, name="Эвотор 7.2", holder="Ольга Смирнова (@olga)") + "\n\n")
    assert not [b for b in call.buttons if b["text"] == texts.BTN_TAKE]
    assert Loan.select().count() == 1


# --- return and change -----------------------------------------------------------------------


def test_return_needs_confirmation_and_is_audited(harness, seed, people, clock):
    user, _, _ = people
    device = seed.device(49)
    seed.loan(device, user)
    sent = harness.press(USER_ID, f"ret:{device.id}")
    call = sent.last(USER_ID)
    assert call.text == texts.ASK_RETURN.format(number=49, name="Эвотор 7.2")
    assert call.button(texts.BTN_YES_RETURNED)["callback_data"] == f"reto:{device.id}"
    assert call.button(texts.BTN_CANCEL)["callback_data"] == f"card:{device.id}"
    assert Loan.get().returned_at is None
    clock.advance(hours=2)
    sent = harness.press(USER_ID, f"reto:{device.id}")
    assert sent.last(USER_ID).text.startswith(texts.RETURNED.format(number=49, name="Эвотор 7.2"))
    assert Loan.get().returned_at == clock.now
    assert AuditLog.get(AuditLog.action == "loan.returned").person_id == user.id
    # Pressing the old confirmation again: already returned.
    harness.press(USER_ID, f"reto:{device.id}")
    assert harness.sender.alerts()[-1] == texts.ALREADY_RETURNED


def test_only_the_holder_may_return_or_change(harness, seed, people):
    _, other, _ = people
    device = seed.device(49)
    seed.loan(device, other)
    for data in (f"ret:{device.id}", f"reto:{device.id}", f"due:{device.id}",
                 f"place:{device.id}"):
        harness.press(USER_ID, data)
        assert harness.sender.alerts()[-1] == texts.NOT_HOLDER
    assert Loan.get().returned_at is None


def test_change_due_date_and_place(harness, seed, people):
    user, _, _ = people
    device = seed.device(49)
    seed.loan(device, user, due=TODAY)
    sent = harness.press(USER_ID, f"due:{device.id}")
    assert sent.last(USER_ID).text == texts.ASK_NEW_DUE.format(number=49, name="Эвотор 7.2",
                                                               example="03.12.2026")
    harness.send(USER_ID, "20.12.2026")
    assert Loan.get().due_date == date(2026, 12, 20)
    harness.press(USER_ID, f"due:{device.id}")
    harness.press(USER_ID, "cdd:none")
    assert Loan.get().due_date is None
    harness.press(USER_ID, f"place:{device.id}")
    sent = harness.send(USER_ID, "у клиента")
    assert sent.last(USER_ID).text.startswith(texts.PLACE_CHANGED.format(
        number=49, name="Эвотор 7.2", place="у клиента"))
    assert Loan.get().place == "у клиента"


# --- lists -----------------------------------------------------------------------------------


def test_all_is_paginated_and_pages_edit_the_message(harness, seed, people):
    _, other, _ = people
    for n in range(1, 20):
        seed.device(n, f"Устройство {n}")
    seed.loan(Device.get(Device.number == 2), other, due=TODAY + timedelta(days=2))
    call = harness.send(USER_ID, "/all").last(USER_ID)
    assert call.text.startswith(texts.LIST_ALL.format(total=19))
    assert texts.LINE.format(number=1, name="Устройство 1", state=texts.LINE_FREE) in call.text
    assert texts.LINE.format(number=2, name="Устройство 2", state=texts.LINE_HELD_UNTIL.format(
        holder="Ольга Смирнова", date="28.11")) in call.text
    assert call.button("1/3") and call.button(texts.BTN_NEXT)["callback_data"] == "all:2"
    call = harness.press(USER_ID, "all:3").last(USER_ID)
    assert call.method == "editMessageText"
    assert "Устройство 19" in call.text and call.button("3/3")
    assert call.button(texts.BTN_PREV)["callback_data"] == "all:2"


def test_page_out_of_range_alerts_and_shows_last_page(harness, seed, people):
    seed.device(1)
    call = harness.press(USER_ID, "all:9").last(USER_ID)
    assert harness.sender.alerts()[-1] == texts.PAGE_GONE
    assert "Эвотор 7.2" in call.text


def test_overdue_is_marked_in_lists(harness, seed, people, clock):
    _, other, _ = people
    seed.loan(seed.device(3, "Атол"), other, due=TODAY)
    clock.advance(days=2)
    text = harness.send(USER_ID, "/all").last(USER_ID).text
    assert texts.LINE.format(number=3, name="Атол", state=texts.LINE_OVERDUE.format(
        holder="Ольга Смирнова")) in text


def test_categories_with_counts_and_filtered_list(harness, seed, people):
    _, other, _ = people
    seed.device(1, "Весы А", category="Весы")
    seed.loan(seed.device(2, "Весы Б", category="Весы"), other)
    seed.device(3, "Сканер", category="Сканер")
    call = harness.send(USER_ID, "/categories").last(USER_ID)
    assert call.text == texts.CATEGORIES_TITLE
    button = call.button(texts.CATEGORY_BUTTON.format(name="Весы", free=1, total=2))
    call = harness.press(USER_ID, button["callback_data"]).last(USER_ID)
    assert call.text.startswith(texts.LIST_CATEGORY.format(category="Весы", total=2))
    assert "Весы А" in call.text and "Сканер" not in call.text
    assert call.button(texts.BTN_ALL_CATEGORIES)["callback_data"] == "cats"


def test_mine_lists_held_devices_with_due_dates(harness, seed, people, clock):
    user, _, _ = people
    seed.loan(seed.device(1, "Атол"), user, due=TODAY)
    seed.loan(seed.device(2, "Эвотор"), user, due=TODAY + timedelta(days=10))
    seed.loan(seed.device(3, "Сканер"), user)
    clock.advance(days=3)
    call = harness.send(USER_ID, "/mine").last(USER_ID)
    assert call.text.startswith(texts.MINE_TITLE.format(count=3))
    assert texts.MINE_LINE.format(number=1, name="Атол", due=texts.MINE_OVERDUE.format(
        days="3 дня")) in call.text
    assert texts.MINE_LINE.format(number=2, name="Эвотор", due=texts.MINE_DUE.format(
        date="06.12.2026")) in call.text
    assert texts.MINE_LINE.format(number=3, name="Сканер", due=texts.MINE_NO_DUE) in call.text
    assert len(call.buttons) == 3


def test_mine_empty(harness, seed, people):
    assert harness.send(USER_ID, "/mine").last(USER_ID).text == texts.MINE_EMPTY


# --- deep links and stale buttons ------------------------------------------------------------


def test_deep_link_opens_card(harness, seed, people):
    seed.device(49)
    assert harness.send(USER_ID, "/start 49").last(USER_ID).text.startswith(
        texts.CARD_TITLE.format(number=49, name="Эвотор 7.2"))


def test_deep_link_registers_first_then_lands_on_card(harness, seed):
    seed.device(49)
    harness.send(555, "/start 49")
    sent = harness.send(555, "new@company.ru")
    texts_sent = sent.texts(555)
    assert texts.REGISTERED.format(email="new@company.ru") in texts_sent
    assert texts_sent[-1].startswith(texts.CARD_TITLE.format(number=49, name="Эвотор 7.2"))


@pytest.mark.parametrize("data", ["card:999999", "take:999999", "ret:999999", "all:x",
                                  "garbage", "card", "tkd:week", "zzz:1:2", "cat:999:1",
                                  "sq:x:y", "dlg:oops", ":::"])
def test_stale_and_forged_buttons_get_an_alert(harness, seed, people, data):
    sent = harness.press(USER_ID, data)
    assert sent.alerts() and sent.alerts()[-1] in (texts.STALE_BUTTON, texts.DEVICE_GONE)
    assert texts.ERROR not in sent.texts()


def test_card_of_deleted_device(harness, seed, people):
    device = seed.device(49)
    device.delete_instance()
    harness.press(USER_ID, f"card:{device.id}")
    assert harness.sender.alerts()[-1] == texts.DEVICE_GONE


def test_mine_with_very_many_devices_fits_one_message(harness, seed, people):
    from inventory.devices import search_text_for
    from models import Category

    user, _, _ = people
    category = Category.get_or_create(name="Весы")[0]
    Device.insert_many([{"number": n, "name": f"Весы с очень длинным названием {n}",
                         "serial": f"S{n}", "category": category,
                         "search_text": search_text_for("весы", f"s{n}")}
                        for n in range(1, 151)]).execute()
    Loan.insert_many([{"device": d, "person": user, "due_date": TODAY}
                      for d in Device.select()]).execute()
    call = harness.send(USER_ID, "/mine").last(USER_ID)  # the recorder enforces 4096 chars
    assert call.text.startswith(texts.MINE_TITLE.format(count=150))
    # A page of cards, ‹ n/m › below.
    assert call.button(texts.PAGE.format(page=1, pages=15))
    assert len([b for b in call.buttons if b["callback_data"].startswith("card:")]) == 10


def test_a_dialogue_overtaken_by_events_ends_with_a_clear_line(harness, seed, people, clock):
    user, _, _ = people
    device = seed.device(49)
    seed.loan(device, user)
    harness.press(USER_ID, f"place:{device.id}")
    from inventory import loans

    loans.return_device(device.id, user, now=clock.now)  # returned meanwhile (e.g. by an admin)
    sent = harness.send(USER_ID, "у клиента")
    assert sent.last(USER_ID).text == texts.ALREADY_RETURNED
    assert texts.ERROR not in sent.texts()
    # The dialogue is over: the next text is a search again.
    assert harness.send(USER_ID, "эвотор").last(USER_ID).text.startswith(
        texts.CARD_TITLE.format(number=49, name="Эвотор 7.2"))


def test_a_photo_where_a_place_is_expected_asks_again(harness, seed, people):
    user, _, _ = people
    device = seed.device(49)
    seed.loan(device, user)
    harness.press(USER_ID, f"place:{device.id}")
    sent = harness.update(message_update(USER_ID, None, photo=[
        {"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]))
    assert sent.last(USER_ID).text == texts.ASK_NEW_PLACE.format(number=49, name="Эвотор 7.2")
    harness.send(USER_ID, "склад")
    assert Loan.get().place == "склад"
