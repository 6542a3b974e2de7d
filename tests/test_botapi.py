"""Tests of the fake Bot API server (driven by pyTelegramBotAPI) and of telegram_rules."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import telebot
from telebot import apihelper, types
from telebot.apihelper import ApiTelegramException

from playground import botapi
from playground.botapi import BOT_ID, FakeBotAPI
from playground.telegram_rules import check_request, parse_html, visible_text

TOKEN = "123456:TEST-token"
USER = 4242


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    """A running fake Bot API server."""
    with FakeBotAPI() as server:
        yield server


@pytest.fixture
def client(fake: FakeBotAPI, monkeypatch: pytest.MonkeyPatch) -> telebot.TeleBot:
    """A synchronous TeleBot whose HTTP calls go to the fake server."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(apihelper, "API_URL", fake.base_url + "/bot{0}/{1}")
    monkeypatch.setattr(apihelper, "FILE_URL", fake.base_url + "/file/bot{0}/{1}")
    monkeypatch.setattr(apihelper, "CUSTOM_REQUEST_SENDER", None)
    monkeypatch.setattr(apihelper, "proxy", None)
    monkeypatch.setattr(apihelper, "LONG_POLLING_TIMEOUT", 0)  # long_polling_timeout=0 polls short
    return telebot.TeleBot(TOKEN, threaded=False)


def api_error(excinfo: pytest.ExceptionInfo[ApiTelegramException]) -> tuple[int, str]:
    """(error_code, description) of a raised ApiTelegramException."""
    return excinfo.value.error_code, excinfo.value.description


def inline(data: str) -> types.InlineKeyboardMarkup:
    """A one-button inline keyboard."""
    markup = types.InlineKeyboardMarkup()
    markup.add(types.InlineKeyboardButton("Кнопка", callback_data=data))
    return markup


# --- the fake server through pyTelegramBotAPI -----------------------------------------------


def test_get_me(client: telebot.TeleBot) -> None:
    """getMe describes the test bot."""
    me = client.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (
        BOT_ID, True, "devtrack_test_bot", "devtrack",
    )


def test_send_message_roundtrip(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """A sent message comes back as a realistic Message and is recorded."""
    first = client.send_message(USER, "Привет")
    second = client.send_message(USER, "<b>жирный</b>", parse_mode="HTML")
    other = client.send_message(77, "x")
    assert first.text == "Привет" and first.chat.id == USER and first.chat.type == "private"
    assert first.from_user.id == BOT_ID and first.date > 0
    assert second.message_id == first.message_id + 1 and other.message_id == 1
    assert second.text == "жирный" and second.entities[0].type == "bold"
    assert fake.sent_texts(USER) == ["Привет", "<b>жирный</b>"]
    call = fake.calls("sendMessage")[0]
    assert call.params["chat_id"] == USER and call["method"] == "sendMessage" and call.ok
    assert fake.calls("sendMessage", chat_id=USER)[1].visible_text == "жирный"
    assert fake.wait_for_method("sendMessage", chat_id=77).result["text"] == "x"


def test_too_long_message_rejected(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """4096 characters pass, 4097 answer 400 message is too long."""
    client.send_message(USER, "я" * 4096)
    with pytest.raises(ApiTelegramException) as excinfo:
        client.send_message(USER, "я" * 4097)
    assert api_error(excinfo) == (400, "Bad Request: message is too long")
    assert fake.calls("sendMessage")[-1].status == 400
    assert fake.sent_texts() == ["я" * 4096]


def test_callback_data_limit(client: telebot.TeleBot) -> None:
    """callback_data is limited to 64 bytes of UTF-8, not 64 characters."""
    client.send_message(USER, "ok", reply_markup=inline("д" * 32))
    with pytest.raises(ApiTelegramException) as excinfo:
        client.send_message(USER, "no", reply_markup=inline("д" * 33))
    assert api_error(excinfo) == (400, "Bad Request: BUTTON_DATA_INVALID")


def test_html_validation(client: telebot.TeleBot) -> None:
    """Bad HTML answers can't parse entities; good HTML is accepted and parsed."""
    for bad, detail in [
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
    ]:
        with pytest.raises(ApiTelegramException) as excinfo:
            client.send_message(USER, bad, parse_mode="HTML")
        assert api_error(excinfo) == (400, f"Bad Request: can't parse entities: {detail}")
    with pytest.raises(ApiTelegramException) as excinfo:
        client.send_message(USER, "Tom & Jerry", parse_mode="HTML")
    assert "can't parse entities" in excinfo.value.description
    sent = client.send_message(USER, "<b>x</b> &amp; <i>y</i>", parse_mode="HTML")
    assert sent.text == "x & y"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 1), ("italic", 4, 1),
    ]
    assert client.send_message(USER, "1 < 2 & <p>").text == "1 < 2 & <p>"


def test_get_updates_offset_confirmation(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """Updates stay until an offset above their id confirms them, then are gone for good."""
    pushed = [fake.push_message(USER, f"m{n}") for n in range(3)]
    ids = [u["update_id"] for u in pushed]
    assert ids == sorted(ids) and len(set(ids)) == 3
    got = client.get_updates(timeout=5, long_polling_timeout=0)
    assert [u.update_id for u in got] == ids
    assert [u.message.text for u in got] == ["m0", "m1", "m2"]
    assert len(client.get_updates(timeout=5, long_polling_timeout=0)) == 3
    assert [u.update_id for u in client.get_updates(offset=ids[2], long_polling_timeout=0)] == [
        ids[2]
    ]
    assert client.get_updates(offset=ids[2] + 1, long_polling_timeout=0) == []
    assert client.get_updates(long_polling_timeout=0) == []
    assert fake.pending_updates() == []
    limited = [fake.push_message(USER, "a"), fake.push_message(USER, "b")]
    assert [u.update_id for u in client.get_updates(limit=1, long_polling_timeout=0)] == [
        limited[0]["update_id"]
    ]


def test_long_poll_returns_early(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """A pending long poll answers as soon as an update is queued, else after its timeout."""
    started = time.monotonic()
    assert client.get_updates(timeout=10, long_polling_timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3
    timer = threading.Timer(0.3, fake.push_message, args=(USER, "/start"))
    timer.start()
    started = time.monotonic()
    got = client.get_updates(timeout=30, long_polling_timeout=20)
    elapsed = time.monotonic() - started
    timer.join()
    assert [u.message.text for u in got] == ["/start"] and 0.2 < elapsed < 3


def test_concurrent_get_updates_conflict(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """A second poller terminates the pending one with 409 Conflict, as Telegram does."""
    errors: list[ApiTelegramException] = []

    def poll() -> None:
        try:
            client.get_updates(timeout=30, long_polling_timeout=20)
        except ApiTelegramException as exc:
            errors.append(exc)

    first = threading.Thread(target=poll)
    first.start()
    deadline = time.monotonic() + 5
    while fake.active_polls < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.get_updates(long_polling_timeout=0) == []
    first.join(5)
    assert not first.is_alive()
    assert [e.error_code for e in errors] == [409]
    assert errors[0].description.startswith("Conflict: terminated by other getUpdates request")


def test_429_injection(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """An injected 429 carries parameters.retry_after; the next call succeeds."""
    fake.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(ApiTelegramException) as excinfo:
        client.send_message(USER, "hi")
    assert excinfo.value.error_code == 429
    assert excinfo.value.result_json["parameters"]["retry_after"] == 7
    assert excinfo.value.description == "Too Many Requests: retry after 7"
    assert excinfo.value.result.status_code == 429
    assert client.send_message(USER, "hi").text == "hi"


def test_5xx_403_and_chat_restricted_faults(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """5xx, 403, chat-restricted faults and blocked chats answer Telegram-style errors."""
    fake.fail_next("sendMessage", 502, times=2)
    for _ in range(2):
        with pytest.raises(ApiTelegramException) as excinfo:
            client.send_message(USER, "x")
        assert api_error(excinfo) == (502, "Bad Gateway")
        assert excinfo.value.result.status_code == 502
    fake.fail_next("sendMessage", 403, chat_id=USER)
    assert client.send_message(1, "other chat").text == "other chat"
    with pytest.raises(ApiTelegramException) as excinfo:
        client.send_message(USER, "x")
    assert api_error(excinfo) == (403, "Forbidden: bot was blocked by the user")
    fake.block_chat(USER)
    for _ in range(2):
        with pytest.raises(ApiTelegramException) as excinfo:
            client.send_message(USER, "x")
        assert excinfo.value.error_code == 403
    fake.unblock_chat(USER)
    client.send_message(USER, "back")
    fake.fail_next("sendMessage", 502, body=b"<html>502 Bad Gateway</html>")
    with pytest.raises(apihelper.ApiHTTPException):
        client.send_message(USER, "x")


def test_delay_next(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """delay_next slows down the next answer only."""
    fake.delay_next("sendMessage", 0.5)
    started = time.monotonic()
    client.send_message(USER, "slow")
    assert time.monotonic() - started >= 0.45
    started = time.monotonic()
    client.send_message(USER, "fast")
    assert time.monotonic() - started < 0.4


def test_unknown_method_and_case_insensitive_names(
    client: telebot.TeleBot, fake: FakeBotAPI
) -> None:
    """Unknown methods answer 404; method names are case-insensitive."""
    with pytest.raises(ApiTelegramException) as excinfo:
        apihelper._make_request(TOKEN, "sendPigeon", params={"chat_id": 1})
    assert api_error(excinfo) == (404, "Not Found: method not found")
    assert excinfo.value.result.status_code == 404
    assert apihelper._make_request(TOKEN, "GETME")["id"] == BOT_ID
    assert fake.calls("getMe")[0].method == "getMe"


def test_raw_http_encodings(fake: FakeBotAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """GET query, form, JSON bodies are all accepted; missing chat_id is 'chat not found'."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    url = f"{fake.base_url}/bot{TOKEN}/sendMessage"
    assert requests.get(url, params={"chat_id": 5, "text": "q"}, timeout=5).json()["ok"]
    assert requests.post(url, data={"chat_id": 5, "text": "f"}, timeout=5).json()["ok"]
    markup = {"inline_keyboard": [[{"text": "b", "callback_data": "d"}]]}
    answer = requests.post(
        url, json={"chat_id": 5, "text": "j", "reply_markup": markup}, timeout=5
    ).json()
    assert answer["result"]["reply_markup"] == markup
    assert fake.calls("sendMessage")[-1].params["reply_markup"] == markup
    missing = requests.post(url, data={"text": "x"}, timeout=5)
    assert missing.status_code == 400
    assert missing.json() == {
        "ok": False, "error_code": 400, "description": "Bad Request: chat not found",
    }
    assert fake.sent_texts(5) == ["q", "f", "j"]
    assert requests.get(f"{fake.base_url}/elsewhere", timeout=5).status_code == 404


def test_send_document_multipart(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """A multipart upload is recorded with its file name and exact bytes."""
    content = b"\x00\xff\r\n\r\n--not-a-boundary\r\nid;name\n" + bytes(range(256))
    sent = client.send_document(
        USER, io.BytesIO(content), visible_file_name="отчёт.csv", caption="<b>Отчёт</b>",
        parse_mode="HTML",
    )
    call = fake.wait_for_method("sendDocument", chat_id=USER)
    assert call.files["document"] == ("отчёт.csv", content)
    assert call.params["caption"] == "<b>Отчёт</b>"
    assert sent.document.file_name == "отчёт.csv" and sent.document.file_size == len(content)
    assert sent.caption == "Отчёт"
    assert fake.file_content(sent.document.file_id) == content
    again = client.send_document(USER, sent.document.file_id)
    assert again.document.file_id == sent.document.file_id
    with pytest.raises(ApiTelegramException) as excinfo:
        client.send_document(USER, types.InputFile(io.BytesIO(b""), file_name="empty.txt"))
    assert api_error(excinfo) == (400, "Bad Request: file must be non-empty")
    with pytest.raises(ApiTelegramException) as excinfo:
        client.send_document(USER, io.BytesIO(b"x"), visible_file_name="a.txt", caption="я" * 1025)
    assert api_error(excinfo) == (400, "Bad Request: message caption is too long")


def test_get_file_and_download(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """getFile describes an added file and its file_path downloads the same bytes."""
    content = "Имя;Роль\nИван;dev\n".encode("cp1251")
    file_id = fake.add_file(content, "team.csv")
    info = client.get_file(file_id)
    assert info.file_id == file_id and info.file_size == len(content) and info.file_path
    assert client.download_file(info.file_path) == content
    assert fake.calls("downloadFile")[0].params["file_path"] == info.file_path
    with pytest.raises(ApiTelegramException) as excinfo:
        client.get_file("nope")
    assert api_error(excinfo) == (400, "Bad Request: invalid file_id")
    with pytest.raises(apihelper.ApiHTTPException):
        client.download_file("documents/missing.bin")
    fake.fail_next("downloadFile", 502)
    with pytest.raises(apihelper.ApiHTTPException):
        client.download_file(info.file_path)


def test_a_pushed_button_is_on_the_bots_latest_message_still_there(
        client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """Without a message_id a press lands on the bot's newest message in that chat: not the
    person's own, not another chat's, and the one before when the newest was deleted."""
    first = client.send_message(USER, "первое", reply_markup=inline("a"))
    second = client.send_message(USER, "второе", reply_markup=inline("b"))
    client.send_message(USER + 1, "чужое", reply_markup=inline("c"))
    fake.push_message(USER, "текст от человека")  # newer, but not the bot's

    def pressed_on() -> int:
        fake.push_callback(USER, "x")
        updates = client.get_updates(offset=-1, long_polling_timeout=0)
        return updates[-1].callback_query.message.message_id

    assert pressed_on() == second.message_id
    client.delete_message(USER, second.message_id)
    assert pressed_on() == first.message_id
    client.delete_message(USER, first.message_id)
    fake.push_callback(USER, "y")  # no message of the bot left: one is made up for the press
    made = client.get_updates(offset=-1, long_polling_timeout=0)[-1].callback_query.message
    assert made.message_id > second.message_id and made.from_user.id == BOT_ID
    assert pressed_on() == made.message_id


def test_pushed_updates_parse_in_telebot(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """Pushed messages, documents and callbacks are real Update JSON for telebot handlers."""
    seen: list[Any] = []
    client.message_handler(commands=["start"])(lambda m: seen.append(("start", m)))
    client.message_handler(content_types=["document"])(lambda m: seen.append(("doc", m)))
    client.callback_query_handler(func=lambda c: True)(lambda c: seen.append(("cb", c)))
    sent = client.send_message(USER, "Выберите", reply_markup=inline("pick:1"))
    fake.push_message(USER, "/start@devtrack_test_bot arg", first_name="Пётр", last_name=None)
    fake.push_document(USER, b"a;b\n", "data.csv", caption="вот")
    fake.push_callback(USER, "pick:1")
    client.process_new_updates(client.get_updates(long_polling_timeout=0))
    kinds = [kind for kind, _ in seen]
    assert kinds == ["start", "doc", "cb"]
    start, doc, callback = (obj for _, obj in seen)
    assert start.from_user.first_name == "Пётр" and start.from_user.last_name is None
    assert start.entities[0].type == "bot_command" and start.entities[0].length == 24
    assert doc.document.file_name == "data.csv" and doc.document.mime_type == "text/csv"
    assert doc.caption == "вот"
    assert client.download_file(client.get_file(doc.document.file_id).file_path) == b"a;b\n"
    assert callback.message.message_id == sent.message_id and callback.data == "pick:1"
    assert callback.message.reply_markup.keyboard[0][0].callback_data == "pick:1"
    assert client.answer_callback_query(callback.id, "ok")
    with pytest.raises(ApiTelegramException) as excinfo:
        client.answer_callback_query("123", "late")
    assert excinfo.value.error_code == 400


def test_edit_and_delete(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """Edits update the stored message; identical edits and unknown messages are refused."""
    sent = client.send_message(USER, "v1", reply_markup=inline("a"))
    edited = client.edit_message_text("<i>v2</i>", USER, sent.message_id, parse_mode="HTML")
    assert edited.text == "v2" and edited.reply_markup is None
    with pytest.raises(ApiTelegramException) as excinfo:
        client.edit_message_text("<i>v2</i>", USER, sent.message_id, parse_mode="HTML")
    assert excinfo.value.description.startswith("Bad Request: message is not modified")
    client.edit_message_reply_markup(USER, sent.message_id, reply_markup=inline("b"))
    with pytest.raises(ApiTelegramException) as excinfo:
        client.edit_message_reply_markup(USER, sent.message_id, reply_markup=inline("b"))
    assert excinfo.value.description.startswith("Bad Request: message is not modified")
    stored = fake.message(USER, sent.message_id)
    assert stored is not None and stored["text"] == "v2"
    assert stored["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "b"
    with pytest.raises(ApiTelegramException) as excinfo:
        client.edit_message_text("x", USER, 999)
    assert api_error(excinfo) == (400, "Bad Request: message to edit not found")
    assert client.delete_message(USER, sent.message_id)
    with pytest.raises(ApiTelegramException) as excinfo:
        client.delete_message(USER, sent.message_id)
    assert api_error(excinfo) == (400, "Bad Request: message to delete not found")
    assert fake.chat_messages(USER) == []
    assert fake.sent_texts(USER, include_edits=True) == ["v1", "<i>v2</i>"]


def test_commands_and_webhook(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """setMyCommands/deleteMyCommands are stored; deleteWebhook can drop pending updates."""
    client.set_my_commands([types.BotCommand("start", "Начать"), types.BotCommand("help", "?")])
    assert [c["command"] for c in fake.default_commands()] == ["start", "help"]
    with pytest.raises(ApiTelegramException) as excinfo:
        client.set_my_commands([types.BotCommand("Bad-Name", "x")])
    assert api_error(excinfo) == (400, "Bad Request: BOT_COMMAND_INVALID")
    client.delete_my_commands()
    assert fake.default_commands() == []
    fake.push_message(USER, "old")
    client.delete_webhook(drop_pending_updates=True)
    assert fake.pending_updates() == []


def test_infinity_polling_end_to_end(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """The real polling loop receives a pushed message and its answer reaches the fake."""
    client.message_handler(func=lambda m: True)(
        lambda m: client.send_message(m.chat.id, f"эхо: {m.text}")
    )
    worker = threading.Thread(
        target=client.infinity_polling,
        kwargs={"timeout": 5, "long_polling_timeout": 1, "logger_level": None},
        daemon=True,
    )
    worker.start()
    try:
        mark = fake.mark()
        fake.push_message(USER, "привет")
        call = fake.wait_for_method("sendMessage", chat_id=USER, timeout=10, since=mark)
        assert call.params["text"] == "эхо: привет"
        with pytest.raises(AssertionError, match="no matching Bot API call"):
            fake.wait_for(lambda c: c.method == "sendSticker", timeout=0.2)
    finally:
        client.stop_polling()
        worker.join(10)
    assert not worker.is_alive()


def test_concurrent_senders(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """Parallel sends are all recorded with distinct message ids per chat."""
    def send(n: int) -> None:
        for i in range(10):
            client.send_message(100 + n % 2, f"{n}-{i}")

    workers = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    calls = fake.calls("sendMessage")
    assert len(calls) == 80 and all(c.ok for c in calls)
    for chat in (100, 101):
        ids = [c.result["message_id"] for c in calls if c.chat_id == chat]
        assert sorted(ids) == list(range(1, 41))


def test_stop_during_long_poll(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """stop() returns within 2 s even while a 30 s long poll is pending."""
    outcome: list[object] = []

    def poll() -> None:
        try:
            outcome.append(client.get_updates(timeout=40, long_polling_timeout=30))
        except Exception as exc:  # noqa: BLE001 - any end is fine, as long as it ends
            outcome.append(exc)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    deadline = time.monotonic() + 5
    while fake.active_polls < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.active_polls == 1
    port = fake.port
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2
    poller.join(5)
    assert outcome == [[]]
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/", timeout=1)


def test_restart_keeps_port_and_state(client: telebot.TeleBot, fake: FakeBotAPI) -> None:
    """After stop() the bot gets connection errors; start() serves the same port again."""
    sent = client.send_message(USER, "before")
    port = fake.port
    fake.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        client.send_message(USER, "during")
    fake.start()
    assert fake.port == port
    after = client.send_message(USER, "after")
    assert after.message_id == sent.message_id + 1
    assert fake.sent_texts(USER) == ["before", "after"]


def test_a_request_read_after_a_stop_goes_unanswered(
    client: telebot.TeleBot, fake: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request the kernel hands over after the stop is dropped, not answered.

    The stop ends each kept-alive connection, but its handler may read a request that arrived
    before it saw the end. Keeping the end from arriving makes that order certain.
    """
    client.send_message(USER, "before")
    monkeypatch.setattr(botapi, "_end", lambda connection: None)
    fake.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        client.send_message(USER, "during")
    assert fake.sent_texts(USER) == ["before"]


def test_token_check() -> None:
    """With a configured token other tokens answer 401."""
    with FakeBotAPI(token=TOKEN) as server:
        session = requests.Session()
        session.trust_env = False
        assert session.get(f"{server.base_url}/bot{TOKEN}/getMe", timeout=5).json()["ok"]
        wrong = session.get(f"{server.base_url}/bot1:other/getMe", timeout=5)
        assert wrong.status_code == 401 and wrong.json()["description"] == "Unauthorized"


def test_require_known_chat() -> None:
    """require_known_chat refuses users who never wrote to the bot."""
    with FakeBotAPI(require_known_chat=True) as server:
        session = requests.Session()
        session.trust_env = False
        url = f"{server.base_url}/bot{TOKEN}/sendMessage"
        refused = session.post(url, data={"chat_id": USER, "text": "hi"}, timeout=5).json()
        assert refused["error_code"] == 403
        server.push_message(USER, "/start")
        assert session.post(url, data={"chat_id": USER, "text": "hi"}, timeout=5).json()["ok"]


# --- telegram_rules ---------------------------------------------------------------------------


def html_error(text: str, **kwargs: Any) -> str | None:
    """Description check_request gives for an HTML sendMessage (None if accepted)."""
    problem = check_request(
        "sendMessage", {"chat_id": "1", "text": text, "parse_mode": "HTML"}, **kwargs
    )
    return None if problem is None else problem[1]


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("x <b", "Unclosed start tag at byte offset 2"),
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("жж<div>x</div>", 'Unsupported start tag "div" at byte offset 4'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("1<2 apples", 'Unsupported start tag "2" at byte offset 1'),
        ("1<2", "Unclosed start tag at byte offset 1"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ('<a href="x"', "Unclosed start tag at byte offset 0"),
        ("<a href=x/>y</a>", "Unexpected end of name token at byte offset 8"),
        ('<tg-emoji emoji-id="x">y</tg-emoji>', "Invalid custom emoji identifier specified"),
    ],
)
def test_rules_bad_html(text: str, detail: str) -> None:
    """Malformed HTML gets Telegram's description with UTF-8 byte offsets."""
    assert html_error(text) == f"Bad Request: can't parse entities: {detail}"


@pytest.mark.parametrize(
    "text",
    [
        "<b>x</b> &amp; <i>y</i>",
        "<strong>a</strong><em>b</em><u>c</u><ins>d</ins><s>e</s><strike>f</strike><del>g</del>",
        '<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>',
        '<a href="https://example.com/?a=1&amp;b=2">link</a>',
        '<code>x</code><pre><code class="language-python">y</code></pre>',
        "<blockquote>q</blockquote><blockquote expandable>r</blockquote>",
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
        "<B>upper</B> <b>x</>",
        "&lt;tag&gt; &quot;q&quot; &#1071; &#x42F;",
        "a > b",
    ],
)
def test_rules_good_html(text: str) -> None:
    """Every tag Telegram supports is accepted."""
    assert html_error(text) is None


def test_rules_entities() -> None:
    """Entities are decoded; a bare & is refused in strict mode and literal otherwise."""
    assert visible_text("&lt;b&gt; &amp; &quot; &#1071;&#x42F;", "HTML") == '<b> & " ЯЯ'
    assert visible_text("&lt;b&gt;", None) == "&lt;b&gt;"
    assert visible_text("<b>x</b>", "html") == "x"
    for bare in ("Tom & Jerry", "AT&T", "&nbsp;", "&lt", "&#;"):
        assert "can't parse entities" in (html_error(bare) or ""), bare
        assert html_error(bare, strict=False) is None, bare
    assert visible_text("AT&T &lt &nbsp;", "HTML", strict=False) == "AT&T < &nbsp;"
    assert "surrogate" in (html_error("&#55357;") or "")
    assert parse_html("<b>я</b>&amp;<i>😀</i>")[1] == [
        {"type": "bold", "offset": 0, "length": 1},
        {"type": "italic", "offset": 2, "length": 2},
    ]
    with pytest.raises(ValueError, match="can't|Unsupported"):
        visible_text("<p>", "HTML")


def test_rules_length_on_visible_text() -> None:
    """The 4096 limit counts visible characters: tags and entities do not count."""
    def problem(text: str, mode: str | None = "HTML") -> str | None:
        params = {"chat_id": 1, "text": text}
        if mode:
            params["parse_mode"] = mode
        found = check_request("sendMessage", params)
        return None if found is None else found[1]

    too_long = "Bad Request: message is too long"
    assert problem("<b>" + "я" * 4096 + "</b>") is None
    assert problem("<b>" + "я" * 4097 + "</b>") == too_long
    assert problem("&amp;" * 4096) is None
    assert problem("&amp;" * 4097) == too_long
    assert problem("x" * 4096, None) is None
    assert problem("<b>" + "x" * 4094, None) == too_long
    # Telegram counts UTF-16 code units: an emoji outside the BMP is two of them.
    assert problem("😀" * 2048, None) is None
    assert problem("😀" * 2049, None) == too_long
    assert problem("я" * 4095 + "😀", None) == too_long
    for empty in ("", "   \n", "<b></b>"):
        assert problem(empty) == "Bad Request: message text is empty"
    assert check_request("editMessageText", {"chat_id": 1, "message_id": 2, "text": "x" * 4097})
    caption = {"chat_id": 1, "caption": "<i>" + "c" * 1024 + "</i>", "parse_mode": "HTML"}
    assert check_request("sendDocument", caption) is None
    caption["caption"] = "c" * 1025
    assert check_request("sendDocument", caption) == (
        400, "Bad Request: message caption is too long",
    )


def test_rules_markup_and_misc() -> None:
    """reply_markup as JSON string or dict, callback_data bytes, parse_mode, chat_id."""
    def keyboard(data: str) -> dict[str, Any]:
        return {"inline_keyboard": [[{"text": "b", "callback_data": data}]]}

    base = {"chat_id": "1", "text": "x"}
    assert check_request("sendMessage", {**base, "reply_markup": keyboard("a" * 64)}) is None
    assert check_request(
        "sendMessage", {**base, "reply_markup": json.dumps(keyboard("a" * 65))}
    ) == (400, "Bad Request: BUTTON_DATA_INVALID")
    assert check_request("sendMessage", {**base, "reply_markup": "{oops"}) == (
        400, "Bad Request: can't parse reply keyboard markup JSON object",
    )
    no_action = {"inline_keyboard": [[{"text": "b"}]]}
    assert "Text buttons are unallowed" in check_request(
        "sendMessage", {**base, "reply_markup": no_action}
    )[1]
    assert check_request("sendMessage", {**base, "parse_mode": "XML"}) == (
        400, "Bad Request: unsupported parse_mode",
    )
    assert check_request("sendMessage", {"text": "x"}) == (400, "Bad Request: chat not found")
    assert check_request("sendMessage", {"chat_id": "@someone", "text": "x"}) == (
        400, "Bad Request: chat not found",
    )
    assert check_request("editMessageText", {"inline_message_id": "i", "text": "x"}) is None
    assert check_request("answerCallbackQuery", {"callback_query_id": "1"}) is None
    assert check_request("sendMessage", {"chat_id": 1, "text": "\ud800"}) == (
        400, "Bad Request: strings must be encoded in UTF-8",
    )
