"""The playground without a browser: its emulator additions, page API, sample data and runtime."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import requests
import telebot
from telebot import apihelper, types

from handlers import texts
from inventory.backup import read_dump
from inventory.reminders import due_loans
from models import Category, Device, Loan, Person, QueueEntry, db
from playground.app import Playground, playground_env
from playground.botapi import FakeBotAPI
from playground.identities import ADMIN, COLLEAGUE, DEVELOPER, EMPLOYEE, IDENTITIES, NEWCOMER
from playground.seed import FIRST_NUMBER, seed
from playground.telegram_rules import visible_text
from playground.token_check import has_token
from playground.web import PlaygroundAPI

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:TEST-token"
CATEGORIES = ("Онлайн-касса", "Фискальный регистратор", "Терминал эквайринга", "Весы",
              "Принтер кухонный", "Планшет", "Сканер")


def seen(template: str, **values: object) -> str:
    """A template as the person reads it."""
    return visible_text(template.format(**values), "HTML")


@pytest.fixture
def telebot_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Lets a test point pyTelegramBotAPI anywhere; the module globals are restored after."""
    monkeypatch.setattr(apihelper, "API_URL", apihelper.API_URL)
    monkeypatch.setattr(apihelper, "FILE_URL", apihelper.FILE_URL)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    yield


@pytest.fixture
def page_api(telebot_api: None) -> Iterator[PlaygroundAPI]:
    """The playground's server without a bot."""
    with PlaygroundAPI() as server:
        yield server


def bot_on(server: FakeBotAPI) -> telebot.TeleBot:
    """A plain TeleBot talking to the server."""
    apihelper.API_URL = server.api_url
    apihelper.FILE_URL = server.file_url
    return telebot.TeleBot(TOKEN, threaded=False)


def page_post(server: FakeBotAPI, path: str, **kwargs) -> requests.Response:
    """A POST as the page sends it."""
    headers = {"X-Playground": "1", **kwargs.pop("headers", {})}
    return requests.post(server.base_url + path, headers=headers, timeout=10, **kwargs)


# --- emulator additions ----------------------------------------------------------------------


def test_delay_slows_every_answer_but_the_long_poll(telebot_api):
    with FakeBotAPI(delay=0.3) as server:
        bot = bot_on(server)
        started = time.monotonic()
        bot.send_message(1, "hi")
        assert time.monotonic() - started >= 0.3
        # getUpdates is exempt (a long poll is not a slow network): with a 60 s delay on every
        # other method it still answers within the request's 10 s timeout.
        server.delay = 60
        answer = requests.get(server.api_url.format(TOKEN, "getUpdates"),
                              params={"timeout": 0}, timeout=10)
        assert answer.json() == {"ok": True, "result": []}


def test_alerts_commands_and_change_version(telebot_api):
    with FakeBotAPI() as server:
        bot = bot_on(server)
        bot.set_my_commands([types.BotCommand("all", "всё")])
        bot.set_my_commands([types.BotCommand("add", "добавить")],
                            scope=types.BotCommandScopeChat(7))
        assert [c["command"] for c in server.commands_for(7)] == ["add"]
        assert [c["command"] for c in server.commands_for(8)] == ["all"]

        before = server.version
        sent = bot.send_message(7, "<b>карточка</b>", parse_mode="HTML")
        assert server.wait_for_change(before, 1) > before
        query = server.push_callback(7, "x", sent.message_id)["callback_query"]
        marker = server.version
        bot.answer_callback_query(query["id"], "Готово", show_alert=True)
        other = server.push_callback(8, "y")["callback_query"]
        bot.answer_callback_query(other["id"], "Тост")
        bot.answer_callback_query(server.push_callback(7, "z")["callback_query"]["id"])
        assert server.alerts(7, marker) == [
            {"version": marker + 1, "chat_id": 7, "text": "Готово", "show_alert": True}]
        assert [a["text"] for a in server.alerts(8)] == ["Тост"]
        assert server.wait_for_change(server.version, 0.05) == server.version  # times out

        server.forget_chats()
        assert server.chat_messages(7) == [] and server.alerts(7) == []
        assert server.pending_updates() == []


def test_edit_that_changes_nothing_is_refused(telebot_api):
    with FakeBotAPI() as server:
        bot = bot_on(server)
        sent = bot.send_message(7, "<b>a</b>", parse_mode="HTML")
        with pytest.raises(apihelper.ApiTelegramException) as info:
            bot.edit_message_text("<b>a</b>", 7, sent.message_id, parse_mode="HTML")
        assert "message is not modified" in info.value.description
        bot.edit_message_text("<i>a</i>", 7, sent.message_id, parse_mode="HTML")
        assert server.message(7, sent.message_id)["entities"][0]["type"] == "italic"


# --- the page's API ---------------------------------------------------------------------------


def test_page_files_are_served(page_api):
    for path, marker in (("/", "PLAYGROUND"), ("/static/app.js", "pollLoop"),
                         ("/static/app.css", ".kb-btn")):
        answer = requests.get(page_api.base_url + path, timeout=10)
        assert answer.status_code == 200 and marker in answer.text, path
    state = requests.get(page_api.base_url + "/api/state", timeout=10).json()
    assert [i["user_id"] for i in state["identities"]] == [i.user_id for i in IDENTITIES]
    assert len({i.user_id for i in IDENTITIES}) == 5


def test_page_messages_become_updates_with_the_identity(page_api):
    answer = page_post(page_api, "/api/send", json={"user": EMPLOYEE.user_id, "text": "/start 49"})
    assert answer.json() == {"ok": True}
    message = page_api.pending_updates()[-1]["message"]
    assert message["text"] == "/start 49" and message["entities"][0]["type"] == "bot_command"
    assert message["from"]["id"] == EMPLOYEE.user_id
    assert message["from"]["first_name"] == EMPLOYEE.first_name
    chat = requests.get(f"{page_api.base_url}/api/chat?user={EMPLOYEE.user_id}", timeout=10).json()
    assert [m["text"] for m in chat["messages"]] == ["/start 49"]
    assert chat["counts"][str(EMPLOYEE.user_id)] == 1 and chat["counts"][str(ADMIN.user_id)] == 0


def test_page_presses_only_buttons_the_bot_showed(page_api, telebot_api):
    bot = bot_on(page_api)
    markup = types.InlineKeyboardMarkup()
    markup.add(types.InlineKeyboardButton("Взять", callback_data="take:5"))
    sent = bot.send_message(EMPLOYEE.user_id, "карточка", reply_markup=markup)
    forged = page_post(page_api, "/api/press", json={
        "user": EMPLOYEE.user_id, "message_id": sent.message_id, "data": "dev:wipe"})
    assert forged.status_code == 400
    elsewhere = page_post(page_api, "/api/press", json={
        "user": COLLEAGUE.user_id, "message_id": sent.message_id, "data": "take:5"})
    assert elsewhere.status_code == 404
    assert page_api.pending_updates() == []
    ok = page_post(page_api, "/api/press", json={
        "user": EMPLOYEE.user_id, "message_id": sent.message_id, "data": "take:5"})
    assert ok.status_code == 200
    query = page_api.pending_updates()[-1]["callback_query"]
    assert (query["data"], query["message"]["message_id"]) == ("take:5", sent.message_id)


def test_upload_and_download_go_through_get_file(page_api, telebot_api):
    content = "Айди,Название\n1,Весы\n".encode()
    answer = page_post(page_api, f"/api/upload?user={ADMIN.user_id}&name=устройства.csv",
                       data=content, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200
    document = page_api.pending_updates()[-1]["message"]["document"]
    assert (document["file_name"], document["mime_type"]) == ("устройства.csv", "text/csv")
    bot = bot_on(page_api)
    assert bot.download_file(bot.get_file(document["file_id"]).file_path) == content
    download = requests.get(f"{page_api.base_url}/api/file/{document['file_id']}", timeout=10)
    assert download.content == content
    assert "attachment" in download.headers["Content-Disposition"]
    assert requests.get(f"{page_api.base_url}/api/file/nope", timeout=10).status_code == 404


def test_page_refuses_other_sites(page_api):
    no_header = requests.post(page_api.base_url + "/api/send", timeout=10,
                              json={"user": EMPLOYEE.user_id, "text": "hi"})
    assert no_header.status_code == 403
    rebound = requests.get(page_api.base_url + "/api/state", timeout=10,
                           headers={"Host": "evil.example:80"})
    assert rebound.status_code == 403
    unknown = page_post(page_api, "/api/send", json={"user": 1, "text": "hi"})
    assert unknown.status_code == 400
    assert page_api.pending_updates() == []


# --- sample data ------------------------------------------------------------------------------


def test_seed_writes_the_sample_office(backend, database):
    now = datetime(2026, 11, 26, 9, 0)
    today = date(2026, 11, 26)
    sample = seed(CATEGORIES, now, today)
    numbers = sorted(d.number for d in Device.select())
    assert numbers == list(range(FIRST_NUMBER, FIRST_NUMBER + 40)) and 49 in numbers
    used = {c.name for c in Category.select().join(Device).distinct()}
    assert used == set(CATEGORIES)
    open_loans = list(Loan.select().where(Loan.returned_at.is_null()))
    assert len(open_loans) == sample.loans == 9
    overdue = [loan for loan in open_loans if loan.due_date and loan.due_date < today]
    assert [(loan.device.number, loan.person.email) for loan in overdue] == [
        (11, EMPLOYEE.email)]
    line = list(QueueEntry.select().order_by(QueueEntry.joined_at))
    assert [(e.device.number, e.person.email) for e in line] == [
        (26, COLLEAGUE.email), (26, ADMIN.email)]
    registered = {p.telegram_id for p in Person.select() if p.telegram_id}
    assert registered == {EMPLOYEE.user_id, COLLEAGUE.user_id, ADMIN.user_id, DEVELOPER.user_id}
    assert NEWCOMER.user_id not in registered
    assert {loan.person.email for loan in due_loans(today + timedelta(days=1))} >= {
        EMPLOYEE.email, COLLEAGUE.email}


def test_playground_env_uses_its_own_database_and_people(tmp_path):
    env = playground_env("http://127.0.0.1:1", tmp_path, {"DATABASE_URL": "postgresql://x/real",
                                                          "BOT_TOKEN": "1:real", "TIMEZONE": "UTC"})
    assert env["DATABASE_URL"] == f"sqlite:///{tmp_path / 'playground.db'}"
    assert env["BOT_TOKEN"] != "1:real" and env["TIMEZONE"] == "UTC"
    assert env["ADMIN_IDS"] == str(ADMIN.user_id)
    assert env["DEVELOPER_IDS"] == str(DEVELOPER.user_id)
    assert env["REGISTRATION"] == "open"


# --- the running playground -------------------------------------------------------------------


@pytest.fixture
def running(tmp_path: Path, telebot_api: None) -> Iterator[Playground]:
    """A whole playground in this process on a free port."""
    playground = Playground(data_dir=tmp_path, port=0).start(logs=False)
    try:
        yield playground
    finally:
        playground.stop()
        db.close()


def ask(playground: Playground, user_id: int, text: str) -> str:
    """Send text as a page would and return the bot's next message text."""
    api = playground.api
    mark = api.mark()
    page_post(api, "/api/send", json={"user": user_id, "text": text})
    call = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == user_id and c.ok,
                        timeout=15, since=mark)
    return call.result["text"]


def test_the_real_bot_answers_in_the_playground(running):
    assert running.url.startswith("http://127.0.0.1:")
    assert running.api._server.server_address[0] == "127.0.0.1"
    assert running.db_path.exists() and running.db_path.parent != ROOT / "data"
    assert "11 Эвотор 7.3" in ask(running, EMPLOYEE.user_id, "/mine")
    menus = {c.params.get("scope", {}).get("chat_id") for c in running.api.calls("setMyCommands")}
    assert {ADMIN.user_id, DEVELOPER.user_id} <= menus
    assert [c["command"] for c in running.api.commands_for(ADMIN.user_id)][-5:] == [
        "add", "edit", "users", "labels", "export"]


def test_reminder_button_runs_the_real_job(running):
    before = len(running.api.calls("sendMessage"))
    line = page_post(running.api, "/api/reminders").json()["result"]
    assert "sent" in line
    to_employee = running.api.sent_texts(EMPLOYEE.user_id)
    assert any(seen(texts.REMIND_FOOTER) in visible_text(t, "HTML") for t in to_employee)
    digest = [visible_text(t, "HTML") for t in running.api.sent_texts(ADMIN.user_id)]
    assert any(t.startswith(seen(texts.DIGEST_TITLE, count=1, date="")[:20]) for t in digest)
    sent_first = len(running.api.calls("sendMessage"))
    assert sent_first > before
    running.reminders()  # the same day again: nothing new
    assert len(running.api.calls("sendMessage")) == sent_first


def test_reset_brings_the_sample_back_and_empties_chats(running):
    ask(running, ADMIN.user_id, "/all")
    db.connect(reuse_if_open=True)
    Loan.delete().execute()
    db.close()
    answer = page_post(running.api, "/api/reset")
    assert answer.status_code == 200
    assert running.api.chat_messages(ADMIN.user_id) == []
    kept = list((running.data_dir / "playground-backups").glob("*.zip"))
    assert len(kept) == 1 and str(kept[0]) in answer.json()["result"]
    assert read_dump(kept[0].read_bytes()).counts["loan"] == 0  # the state before the reset
    db.connect(reuse_if_open=True)
    try:
        assert Loan.select().where(Loan.returned_at.is_null()).count() == 9
        assert Device.select().count() == 40
    finally:
        db.close()
    assert "11 Эвотор 7.3" in ask(running, EMPLOYEE.user_id, "/mine")


# --- make run -------------------------------------------------------------------------------


def test_token_check_reads_the_environment_and_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    assert not has_token({}, dotenv)
    assert has_token({"BOT_TOKEN": "1:x"}, dotenv)
    dotenv.write_text("BOT_TOKEN=\nADMIN_IDS=1\n")
    assert not has_token({"BOT_TOKEN": "  "}, dotenv)
    dotenv.write_text("BOT_TOKEN=123:abc\n")
    assert has_token({}, dotenv)


@pytest.mark.slow
def test_make_run_without_token_opens_the_playground(clone):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "BOT_", "TEST_DATABASE", "BENCH_"))}
    env.update({"PLAYGROUND_PORT": "0", "NO_PROXY": "127.0.0.1,localhost",
                "PYTHONUNBUFFERED": "1"})
    process = subprocess.Popen(["make", "run"], cwd=clone, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if re.search(r"Open http://127\.0\.0\.1:\d+", line):
                found.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert found.wait(90), "".join(lines)
        url = re.search(r"Open (http://127\.0\.0\.1:\d+)", "".join(lines))[1]
        page = requests.get(url + "/", timeout=10)
        assert "PLAYGROUND" in page.text
        assert (clone / "data" / "playground.db").exists()
        assert not (clone / "data" / "devtrack.db").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    assert "No BOT_TOKEN" in "".join(lines)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The tracked files in a fresh folder (no .env), sharing this checkout's virtualenv."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        if (ROOT / name).exists():
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((ROOT / name).read_bytes())
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv in this checkout")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    stamp = ROOT / ".venv" / ".installed"
    # Copies are newer than the stamp; make must not reinstall the shared virtualenv.
    for name in ("requirements.txt", "requirements-dev.txt", "requirements.lock",
                 "requirements-dev.lock"):
        os.utime(tmp_path / name, (stamp.stat().st_mtime - 10,) * 2)
    return tmp_path


def test_json_of_identities_is_what_the_page_reads():
    data = json.loads(json.dumps([i.as_json() for i in IDENTITIES]))
    assert {d["key"] for d in data} == {"newcomer", "employee", "colleague", "admin", "developer"}
    assert [d["email"] is None for d in data] == [True, False, False, False, False]
