"""Everyday polish through updates in / Bot API calls out: search, odd messages, old buttons."""

from __future__ import annotations

import pytest
from conftest import ADMIN_ID, USER_ID, message_update

from handlers import texts
from handlers.registration import help_text
from models import Device

OTHER_ID = 200


@pytest.fixture
def people(seed):
    """A user, a colleague and an admin."""
    return (seed.person(USER_ID, name="Иван Петров", username="ivan"),
            seed.person(OTHER_ID, "anna@company.ru", name="Анна", username="anna_k"),
            seed.person(ADMIN_ID, "admin@company.ru", name="Админ"))


@pytest.fixture
def fleet(seed, people):
    """Realistic serials: 14 digits, so short numbers are substrings of many of them."""
    return {n: seed.device(n, f"Эвотор {n}", serial=f"0010{n % 7}749{n:07d}") for n in range(1, 60)}


def card_title(device: Device) -> str:
    return texts.CARD_TITLE.format(number=device.number, name=texts.e(device.name))


# --- search ----------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["5", "49", "№49", "# 5"])
def test_a_sticker_number_opens_that_card_at_once(harness, fleet, typed):
    number = int(typed.lstrip("№# "))
    call = harness.send(USER_ID, typed).last(USER_ID)
    assert call.text.startswith(card_title(fleet[number]))
    others = Device.select().where(
        (Device.search_text.contains(str(number))) & (Device.number != number)).count()
    assert others > 0
    assert texts.MORE_MATCHES.format(count=others) in call.text
    rest = harness.press(USER_ID, call.button(texts.BTN_MORE_MATCHES)["callback_data"])
    listed = rest.last(USER_ID)
    assert listed.text.startswith(texts.LIST_SEARCH.format(query=texts.e(typed), total=others))
    assert f"<b>{number}</b> " not in listed.text.split("\n", 1)[1]


def test_a_number_with_no_other_matches_has_no_more_button(harness, seed, people):
    seed.device(7, "Весы", serial="ABC")
    call = harness.send(USER_ID, "7").last(USER_ID)
    assert call.text.startswith(texts.CARD_TITLE.format(number=7, name="Весы"))
    assert texts.MORE_MATCHES.split("{")[0] not in call.text
    assert not [b for b in call.buttons if b["text"] == texts.BTN_MORE_MATCHES]


def test_a_number_without_that_device_lists_substring_matches(harness, fleet):
    call = harness.send(USER_ID, "749").last(USER_ID)
    assert call.text.startswith(texts.LIST_SEARCH.format(query="749", total=59))


@pytest.mark.parametrize("typed", ["касса", "КАССА", "онлайн-кас", "счетчик"])
def test_categories_are_searchable(harness, seed, people, typed):
    seed.device(1, "Эвотор 7.2", category="Онлайн-касса")
    seed.device(2, "Атол 30Ф", category="Онлайн-касса")
    seed.device(3, "Magner", category="Счётчик купюр")
    seed.device(4, "Весы", category="Весы")
    call = harness.send(USER_ID, typed).last(USER_ID)
    if typed == "счетчик":
        assert call.text.startswith(texts.CARD_TITLE.format(number=3, name="Magner"))
    else:
        assert call.text.startswith(texts.LIST_SEARCH.format(query=typed, total=2))
        assert "Эвотор 7.2" in call.text and "Атол 30Ф" in call.text and "Весы" not in call.text


@pytest.mark.parametrize("command", ["/language", "/settings@devtrack_test_bot", "/LANG x"])
@pytest.mark.parametrize("user_id", [USER_ID, ADMIN_ID])
def test_an_unknown_command_is_not_a_search(harness, fleet, command, user_id):
    harness.sender.clear()
    call = harness.send(user_id, command).last(user_id)
    ctx_help = help_text(type("C", (), {"is_admin": user_id == ADMIN_ID,
                                        "is_developer": False})())
    assert call.text == texts.UNKNOWN_COMMAND + "\n\n" + ctx_help
    assert len(harness.sender.of("sendMessage")) == 1


@pytest.mark.parametrize("command", ["/add", "/edit 49", "/users", "/dev"])
def test_commands_of_other_roles_still_read_as_a_failed_search(harness, fleet, command):
    call = harness.send(USER_ID, command).last(USER_ID)
    assert call.text == texts.NOT_FOUND.format(query=texts.e(command))


def test_after_picking_a_person_a_number_searches_devices(harness, fleet):
    call = harness.send(ADMIN_ID, "/users").last(ADMIN_ID)
    harness.press(ADMIN_ID, call.button("Анна")["callback_data"])
    call = harness.send(ADMIN_ID, "49").last(ADMIN_ID)
    assert call.text.startswith(card_title(fleet[49]))


# --- messages that are not text --------------------------------------------------------------

MEDIA = {
    "animation": {"file_id": "a", "file_unique_id": "a", "width": 1, "height": 1, "duration": 1},
    "video_note": {"file_id": "v", "file_unique_id": "v", "length": 1, "duration": 1},
    "poll": {"id": "p", "question": "?",
             "options": [{"text": "a", "voter_count": 0, "persistent_id": "1"}],
             "total_voter_count": 0, "is_closed": False, "is_anonymous": True,
             "type": "regular", "allows_multiple_answers": False},
    "dice": {"emoji": "🎲", "value": 3},
    "voice": {"file_id": "o", "file_unique_id": "o", "duration": 1},
    "sticker": {"file_id": "s", "file_unique_id": "s", "width": 1, "height": 1,
                "is_animated": False, "is_video": False, "type": "regular"},
    "location": {"latitude": 55.7, "longitude": 37.6},
}


@pytest.mark.parametrize("kind", sorted(MEDIA))
def test_media_outside_a_dialogue_get_a_short_explanation(harness, fleet, kind):
    harness.sender.clear()
    harness.update(message_update(USER_ID, None, **{kind: MEDIA[kind]}))
    assert harness.sender.texts(USER_ID) == [texts.UNSUPPORTED_MESSAGE]


@pytest.mark.parametrize("kind", sorted(MEDIA))
def test_media_in_a_dialogue_repeat_the_question(harness, fleet, kind):
    card = harness.send(USER_ID, "5").last(USER_ID)
    question = harness.press(USER_ID, card.button(texts.BTN_TAKE)["callback_data"]).last(USER_ID)
    harness.sender.clear()
    harness.update(message_update(USER_ID, None, **{kind: MEDIA[kind]}))
    sent = harness.sender.of("sendMessage", USER_ID)
    assert [c.text for c in sent] == [texts.UNSUPPORTED_MESSAGE, question.text]
    assert sent[-1].markup == question.markup
    # The dialogue goes on: the next text is the answer to the question.
    call = harness.send(USER_ID, "офис").last(USER_ID)
    assert call.text == texts.ASK_DUE.split("<code>")[0] + call.text.split(
        texts.ASK_DUE.split("<code>")[0])[1]


# --- an old «Взять», words and dates ---------------------------------------------------------


def test_an_old_take_button_says_who_has_it_now(harness, seed, people):
    _, anna, _ = people
    device = seed.device(49)
    card = harness.send(USER_ID, "49").last(USER_ID)
    seed.loan(device, anna)
    harness.sender.clear()
    call = harness.press(USER_ID, card.button(texts.BTN_TAKE)["callback_data"]).last(USER_ID)
    assert call.method == "editMessageText"
    assert call.text.startswith(texts.TAKE_HELD_NOW.format(
        number=49, name="Эвотор 7.2", holder="Анна (@anna_k)"))
    assert "Пока вы оформляли" not in call.text
    assert texts.STATE_HELD.split("{")[0] + "Анна (@anna_k)" in call.text


def test_holder_names_are_not_declined(harness, seed, people):
    _, anna, _ = people
    seed.loan(seed.device(49), anna)
    call = harness.send(USER_ID, "49").last(USER_ID)
    assert "Сейчас у: Анна (@anna_k)" in call.text
    call = harness.send(ADMIN_ID, "/all").last(ADMIN_ID)
    assert "у: Анна" in call.text


def take_until(harness, device_number: int, typed: str):
    """Open the card, take, skip the place, type a due date; what the bot said last."""
    card = harness.send(USER_ID, str(device_number)).last(USER_ID)
    harness.press(USER_ID, card.button(texts.BTN_TAKE)["callback_data"])
    harness.press(USER_ID, "tkp:skip")
    return harness.send(USER_ID, typed).last(USER_ID)


def test_29_february_in_a_common_year_is_the_next_one(harness, seed, people):
    from models import Loan

    seed.device(49)
    take_until(harness, 49, "29.02")
    assert Loan.get().due_date.isoformat() == "2028-02-29"


@pytest.mark.parametrize("typed", ["01.01.9999", "27.11.2028", "2030-01-01"])
def test_a_due_date_beyond_two_years_is_refused(harness, seed, people, typed):
    from models import Loan

    seed.device(49)
    call = take_until(harness, 49, typed)
    assert call.text == texts.DATE_TOO_FAR.format(limit="26.11.2028", example="03.12.2026")
    assert Loan.select().count() == 0
    assert harness.send(USER_ID, "26.11.2028").last(USER_ID).text.startswith(
        texts.TAKEN.format(number=49, name="Эвотор 7.2"))


def test_admin_assign_refuses_a_far_due_date_too(harness, seed, people):
    from models import Loan

    device = seed.device(49)
    harness.press(ADMIN_ID, f"asg:{device.id}")
    harness.send(ADMIN_ID, "anna@company.ru")
    harness.press(ADMIN_ID, f"asgp:{device.id}:{people[1].id}")
    harness.send(ADMIN_ID, "дома")
    call = harness.send(ADMIN_ID, "01.01.9999").last(ADMIN_ID)
    assert texts.DATE_TOO_FAR.format(limit="26.11.2028", example="03.12.2026") in call.text
    assert Loan.select().count() == 0


def test_a_gif_before_registration_repeats_the_email_question(harness, seed):
    harness.send(555, "привет")
    question = harness.sender.last(555)
    harness.sender.clear()
    harness.update(message_update(555, None, animation=MEDIA["animation"]))
    assert harness.sender.texts(555) == [texts.UNSUPPORTED_MESSAGE, question.text]
