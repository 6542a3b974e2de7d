"""End to end: the real bot process, real long polling, a fake Bot API on 127.0.0.1."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from e2e import button_data, press, reply_to, running_bot, say, wait_until

from handlers import texts
from inventory.devices import search_text_for
from models import Category, Device, Loan, Person, init_db
from playground.botapi import FakeBotAPI
from schema import apply_migrations

pytestmark = pytest.mark.slow
USER = 4242


@pytest.fixture
def api(monkeypatch):
    """A running fake Bot API server."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeBotAPI() as server:
        yield server


def test_registration_help_and_unknown_text(api, tmp_path):
    with running_bot(api, tmp_path, ADMIN_IDS="777", DEVELOPER_IDS="778",
                     DEVELOPER_CODE="x") as process:
        menus = [c for c in api.calls("setMyCommands") if c.ok]
        assert {c.params.get("scope", {}).get("type", "default") for c in menus} == {
            "default", "chat"}
        assert say(api, USER, "/start").text.startswith(texts.ASK_EMAIL.split("\n")[0])
        mark = api.mark()
        api.push_message(USER, "new.person@company.ru")
        assert reply_to(api, mark, USER).text == texts.REGISTERED.format(
            email="new.person@company.ru")
        assert api.wait_for(lambda c: c.text == texts.HELP_USER, since=mark, timeout=15).ok
        assert say(api, USER, "что-то непонятное").text == texts.NOT_FOUND.format(
            query="что-то непонятное")
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
        assert say(api, USER, "/start").ok
        assert process.poll() is None
    assert "could not set the command menu" in (tmp_path / "bot.log").read_text()


def test_sigterm_finishes_the_update_in_progress_and_exits_zero(api, tmp_path):
    with running_bot(api, tmp_path) as process:
        api.delay_next("sendMessage", 2.0)
        mark = api.mark()
        api.push_message(USER, "/start")
        # The update was fetched once a call after the mark finished (the getUpdates with it).
        wait_until(lambda: api.active_polls and [c for c in api.calls() if c.index >= mark],
                   "the update to be fetched")
        time.sleep(0.3)  # the handler is now inside the slow sendMessage
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    assert process.returncode == 0
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
        card = say(api, USER, "эвотор")
        assert card.text.startswith(texts.CARD_TITLE.format(number=49, name="Эвотор 7.2"))
        ask_place = press(api, USER, card, texts.BTN_TAKE)
        assert ask_place.text == texts.ASK_PLACE.format(number=49, name="Эвотор 7.2")
        ask_due = say(api, USER, "дома")
        taken = press(api, USER, ask_due, texts.BTN_WEEK, expect="editMessageText")
        assert taken.text.startswith(texts.TAKEN.format(number=49, name="Эвотор 7.2"))
        mine = say(api, USER, "/mine")
        assert mine.text.startswith(texts.MINE_TITLE.format(count=1)) and "Эвотор" in mine.text
        confirm = press(api, USER, taken, texts.BTN_RETURN, expect="editMessageText")
        done = press(api, USER, confirm, texts.BTN_YES_RETURNED, expect="editMessageText")
        assert done.text.startswith(texts.RETURNED.format(number=49, name="Эвотор 7.2"))
    database = init_db(f"sqlite:///{tmp_path / 'bot.db'}")
    loan = Loan.get()
    assert loan.place == "дома" and loan.returned_at is not None
    database.close()


def test_queue_take_join_return_hold_take(api, tmp_path):
    seed_devices(tmp_path)
    database = init_db(f"sqlite:///{tmp_path / 'bot.db'}")
    Person.create(telegram_id=USER + 1, email="olga@company.ru", name="Ольга")
    database.close()
    a, b = USER, USER + 1
    with running_bot(api, tmp_path):
        ask_place = press(api, a, say(api, a, "49"), texts.BTN_TAKE)
        # Dialogue buttons turn their prompt into the next step in place.
        ask_due = press(api, a, ask_place, texts.BTN_SKIP, expect="editMessageText")
        taken = press(api, a, ask_due, texts.BTN_NO_DUE, expect="editMessageText")
        b_card = say(api, b, "49")
        mark = api.mark()
        api.push_callback(b, button_data(b_card, texts.BTN_JOIN_QUEUE),
                          message_id=b_card.result["message_id"])
        api.wait_for(lambda c: c.chat_id == b and c.ok and texts.QUEUE_YOUR_PLACE.format(
            position=1, count=1) in (c.text or ""), since=mark, timeout=15)
        confirm = press(api, a, taken, texts.BTN_RETURN, expect="editMessageText")
        mark = api.mark()
        api.push_callback(a, button_data(confirm, texts.BTN_YES_RETURNED),
                          message_id=confirm.result["message_id"])
        offer = reply_to(api, mark, chat_id=b)
        assert "Эвотор 7.2" in offer.text and button_data(offer, texts.BTN_DECLINE_HOLD)
        press(api, b, offer, texts.BTN_TAKE)
        ask_due = say(api, b, "склад")
        assert press(api, b, ask_due, texts.BTN_TOMORROW, expect="editMessageText").text.startswith(
            texts.TAKEN.format(number=49, name="Эвотор 7.2"))
    database = init_db(f"sqlite:///{tmp_path / 'bot.db'}")
    holder = Loan.get(Loan.returned_at.is_null()).person
    assert holder.telegram_id == b
    database.close()


def test_admin_imports_cp1251_csv_and_a_user_finds_a_device(api, tmp_path):
    admin = 777
    seed_devices(tmp_path)
    database = init_db(f"sqlite:///{tmp_path / 'bot.db'}")
    Person.create(telegram_id=admin, email="admin@company.ru", name="Админ")
    Category.create(name="Весы")
    database.close()
    rows = [
        "Айди;Название;Категория;Артикул;Дата регистрации;Прошивка;Комментарий;"
        "Электронная почта;Место устройства;Дата возврата",
        '101;Весы "Штрих-Принт";Весы;ШП-0001;01.02.2024;1.2;"с блоком; питания";;;',
        "102;Сканер Ёлка;Весы;SC-77;;;;olga@company.ru;офис;31.12.2026",
    ]
    content = ("\r\n".join(rows) + "\r\n").encode("cp1251")
    with running_bot(api, tmp_path, ADMIN_IDS=str(admin)):
        mark = api.mark()
        api.push_document(admin, content, "устройства.csv", mime_type="text/csv")
        preview = api.wait_for(lambda c: c.chat_id == admin and c.ok and texts.BTN_IMPORT in str(
            c.params.get("reply_markup", "")), since=mark, timeout=20)
        assert "Новых устройств: 2" in preview.text and "Выдач сотрудникам: 1" in preview.text
        assert [c for c in api.calls("getFile") if c.ok]
        assert [c for c in api.calls("downloadFile") if c.ok]
        mark = api.mark()
        api.push_callback(admin, button_data(preview, texts.BTN_IMPORT),
                          message_id=preview.result["message_id"])
        api.wait_for(lambda c: c.chat_id == admin and c.ok
                     and c.method in ("sendMessage", "editMessageText")
                     and "Добавлено устройств: 2" in (c.text or ""), since=mark, timeout=20)
        card = say(api, USER, "штрих")
        assert card.text.startswith(texts.CARD_TITLE.format(number=101, name=texts.e(
            'Весы "Штрих-Принт"')))
        assert "с блоком; питания" in card.text
        assert say(api, USER, "елка").text.startswith(texts.CARD_TITLE.format(
            number=102, name="Сканер Ёлка"))


def test_polling_loop_touches_the_heartbeat_the_probe_reads(api, tmp_path):
    import os
    import subprocess
    import sys

    heartbeat = tmp_path / "heartbeat"
    with running_bot(api, tmp_path):
        wait_until(heartbeat.exists, "the first heartbeat", step=0.3,
                   tick=lambda: api.push_message(USER, "/start"))  # each ends the long poll
        first = heartbeat.stat().st_mtime
        os.utime(heartbeat, (first - 600, first - 600))  # as if the loop had been stuck
        probe = [sys.executable, "-m", "jobs.healthcheck"]
        env = {**os.environ, "HEARTBEAT_FILE": str(heartbeat), "HEARTBEAT_MAX_AGE": "120"}
        root = Path(__file__).resolve().parent.parent
        assert subprocess.run(probe, env=env, cwd=root, capture_output=True).returncode == 1
        api.push_message(USER, "/start")
        wait_until(lambda: heartbeat.stat().st_mtime >= first, "a fresh heartbeat", step=0.1)
        assert subprocess.run(probe, env=env, cwd=root, capture_output=True).returncode == 0
