"""End to end: the real bot process, real long polling, a fake Bot API on 127.0.0.1."""

from __future__ import annotations

import signal
import time

import pytest
from e2e import running_bot
from fakebotapi import FakeBotAPI

from handlers import texts
from inventory.devices import search_text_for
from models import Category, Device, Loan, Person, init_db
from schema import apply_migrations

pytestmark = pytest.mark.slow
USER = 4242


@pytest.fixture
def api(monkeypatch):
    """A running fake Bot API server."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeBotAPI() as server:
        yield server


def reply_to(api: FakeBotAPI, since: int, chat_id: int = USER, method: str = "sendMessage"):
    """The next successful call of method to the chat after `since`."""
    return api.wait_for(lambda c: c.method == method and c.chat_id == chat_id and c.ok,
                        timeout=15, since=since)


def button_data(call, label: str) -> str:
    """callback_data of the first button whose label contains label."""
    for row in call.params["reply_markup"]["inline_keyboard"]:
        for b in row:
            if label in b["text"]:
                return b["callback_data"]
    raise AssertionError(f"no {label!r} button in {call.params['reply_markup']}")


def test_registration_help_and_unknown_text(api, tmp_path):
    with running_bot(api, tmp_path, ADMIN_IDS="777", DEVELOPER_IDS="778",
                     DEVELOPER_CODE="x") as process:
        menus = [c for c in api.calls("setMyCommands") if c.ok]
        assert {c.params.get("scope", {}).get("type", "default") for c in menus} == {
            "default", "chat"}
        mark = api.mark()
        api.push_message(USER, "/start")
        assert reply_to(api, mark).text.startswith(texts.ASK_EMAIL.split("\n")[0])
        mark = api.mark()
        api.push_message(USER, "new.person@company.ru")
        assert reply_to(api, mark).text == texts.REGISTERED.format(email="new.person@company.ru")
        assert api.wait_for(lambda c: c.text == texts.HELP_USER, since=mark, timeout=15).ok
        mark = api.mark()
        api.push_message(USER, "что-то непонятное")
        assert reply_to(api, mark).text == texts.NOT_FOUND.format(query="что-то непонятное")
        assert process.poll() is None
    assert process.returncode == 0
    database = init_db(f"sqlite:///{tmp_path / 'bot.db'}")
    database.connect()
    assert Person.get(Person.telegram_id == USER).email == "new.person@company.ru"
    database.close()


def test_refused_command_menu_does_not_stop_the_bot(api, tmp_path):
    api.fail_next("setMyCommands", status=400, description="Bad Request: BOT_COMMANDS_TOO_MUCH",
                  times=5)
    with running_bot(api, tmp_path) as process:
        mark = api.mark()
        api.push_message(USER, "/start")
        assert reply_to(api, mark).ok
        assert process.poll() is None
    assert "could not set the command menu" in (tmp_path / "bot.log").read_text()


def test_sigterm_finishes_the_update_in_progress_and_exits_zero(api, tmp_path):
    with running_bot(api, tmp_path) as process:
        api.delay_next("sendMessage", 2.0)
        mark = api.mark()
        api.push_message(USER, "/start")
        while not api.active_polls or not [c for c in api.calls() if c.index >= mark]:
            # wait until the update was fetched (the getUpdates that delivered it finished)
            time.sleep(0.05)
        time.sleep(0.3)  # the handler is now inside the slow sendMessage
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(15)
        elapsed = time.monotonic() - started
    assert process.returncode == 0
    assert 1.0 < elapsed < 10  # it waited for the slow send, but not for long
    sent = [c for c in api.calls("sendMessage") if c.index >= mark]
    assert sent and sent[0].ok, "the update in progress was cut off"
    assert "devtrack stopped" in (tmp_path / "bot.log").read_text()


def seed_devices(tmp_path) -> None:
    """Create the bot's database with two devices before it starts."""
    database = init_db(f"sqlite:///{tmp_path / 'bot.db'}")
    apply_migrations(database)
    category = Category.create(name="Онлайн-касса")
    for number, name in ((49, "Эвотор 7.2"), (50, "Атол Sigma")):
        serial = f"ZN{number}"
        Device.create(number=number, name=name, serial=serial, category=category,
                      search_text=search_text_for(name, serial))
    Person.create(telegram_id=USER, email="ivan@company.ru", name="Иван")
    database.close()


def test_search_card_take_mine_return(api, tmp_path):
    seed_devices(tmp_path)
    with running_bot(api, tmp_path):
        mark = api.mark()
        api.push_message(USER, "эвотор")
        card = reply_to(api, mark)
        assert card.text.startswith(texts.CARD_TITLE.format(number=49, name="Эвотор 7.2"))
        mark = api.mark()
        api.push_callback(USER, button_data(card, texts.BTN_TAKE),
                          message_id=card.result["message_id"])
        assert reply_to(api, mark).text == texts.ASK_PLACE.format(number=49, name="Эвотор 7.2")
        mark = api.mark()
        api.push_message(USER, "дома")
        ask_due = reply_to(api, mark)
        mark = api.mark()
        api.push_callback(USER, button_data(ask_due, texts.BTN_WEEK),
                          message_id=ask_due.result["message_id"])
        taken = reply_to(api, mark)
        assert taken.text.startswith(texts.TAKEN.format(number=49, name="Эвотор 7.2"))
        mark = api.mark()
        api.push_message(USER, "/mine")
        mine = reply_to(api, mark)
        assert mine.text.startswith(texts.MINE_TITLE.format(count=1)) and "Эвотор" in mine.text
        mark = api.mark()
        api.push_callback(USER, button_data(taken, texts.BTN_RETURN),
                          message_id=taken.result["message_id"])
        confirm = reply_to(api, mark, method="editMessageText")
        mark = api.mark()
        api.push_callback(USER, button_data(confirm, texts.BTN_YES_RETURNED),
                          message_id=taken.result["message_id"])
        done = reply_to(api, mark, method="editMessageText")
        assert done.text.startswith(texts.RETURNED.format(number=49, name="Эвотор 7.2"))
    database = init_db(f"sqlite:///{tmp_path / 'bot.db'}")
    loan = Loan.get()
    assert loan.place == "дома" and loan.returned_at is not None
    database.close()
