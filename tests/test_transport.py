"""Bot API calls through the libcurl sender: what telebot's own sender sends, raises and returns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pycurl
import pytest
import requests
import telebot
from telebot import apihelper
from telebot.apihelper import ApiHTTPException, ApiTelegramException

from outbox.transport import CurlSender, _requests_error, json_body, use_curl_sender
from playground.botapi import FakeBotAPI

TOKEN = "123456:TEST-token"
CHAT = 4242


@pytest.fixture
def fake() -> Iterator[FakeBotAPI]:
    """A running fake Bot API server that does not check chats."""
    with FakeBotAPI(strict=False) as server:
        yield server


@pytest.fixture
def client(fake: FakeBotAPI, monkeypatch: pytest.MonkeyPatch) -> telebot.TeleBot:
    """A TeleBot whose calls go to the fake server through the pooled sender."""
    monkeypatch.setattr(apihelper, "API_URL", fake.base_url + "/bot{0}/{1}")
    monkeypatch.setattr(apihelper, "FILE_URL", fake.base_url + "/file/bot{0}/{1}")
    monkeypatch.setattr(apihelper, "CUSTOM_REQUEST_SENDER", None)
    sender = use_curl_sender()
    assert apihelper.CUSTOM_REQUEST_SENDER is sender
    return telebot.TeleBot(TOKEN, threaded=False)


@pytest.mark.parametrize("params", [
    None,
    {"chat_id": CHAT, "text": "Привет & <b>до встречи</b> + 100% = ?#\n«ё»", "parse_mode": "HTML"},
    {"chat_id": str(CHAT), "text": "x", "disable_notification": True,
     "reply_markup": '{"inline_keyboard": [[{"text": "Взять", "callback_data": "take:7"}]]}'},
])
def test_the_json_body_carries_what_telebots_own_sender_sends(fake, params):
    # telebot's own sender puts the parameters in the query string (requests' params=).
    url = fake.base_url + f"/bot{TOKEN}/sendMessage"
    requests.post(url, params=params, timeout=5)
    CurlSender()("post", url, params=dict(params) if params else None, timeout=(5, 5))
    theirs, ours = fake.calls("sendMessage")[-2:]
    assert ours.params == theirs.params
    assert ours.status == theirs.status  # refused alike without a chat and a text
    assert json_body(params) == json.dumps(params or {}, ensure_ascii=False).encode()


def test_a_message_goes_out_and_comes_back_parsed(client, fake):
    text = "Привет & <b>до встречи</b> + 100% = ?#"
    markup = telebot.types.InlineKeyboardMarkup()
    markup.add(telebot.types.InlineKeyboardButton("Взять", callback_data="take:7"))
    sent = client.send_message(CHAT, text, reply_markup=markup)
    call = fake.calls("sendMessage")[-1]
    assert (call.chat_id, call.text) == (CHAT, text)
    assert (sent.chat.id, sent.text) == (CHAT, text)
    assert sent.reply_markup.keyboard[0][0].callback_data == "take:7"


def test_api_errors_raise_what_telebots_own_sender_raises(client, fake):
    fake.fail_next("sendMessage", 400, description="Bad Request: message text is empty")
    with pytest.raises(ApiTelegramException) as refused:
        client.send_message(CHAT, "x")
    assert (refused.value.error_code, refused.value.description) == (
        400, "Bad Request: message text is empty")
    fake.fail_next("sendMessage", 502, body=b"<html>502 Bad Gateway</html>")
    with pytest.raises(ApiHTTPException) as broken:
        client.send_message(CHAT, "x")
    assert "502" in str(broken.value) and "Bad Gateway" in str(broken.value)


def test_network_failures_raise_requests_exceptions(client, fake):
    fake.delay_next("sendMessage", 2.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.send_message(CHAT, "x", timeout=0.2)
    fake.stop()
    with pytest.raises(requests.exceptions.ConnectionError) as refused:
        client.send_message(CHAT, "x")
    assert not isinstance(refused.value, requests.exceptions.Timeout)


def test_uploads_and_proxied_hosts_keep_telebots_own_path(client, fake, monkeypatch):
    client.send_document(CHAT, ("devices.csv", b"number;name\n7;Evotor\n"))
    document = fake.calls("sendDocument")[-1].result["document"]
    assert fake.file_content(document["file_id"]) == b"number;name\n7;Evotor\n"
    sender = CurlSender()
    for name in ("HTTP_PROXY", "http_proxy"):  # CI sets both spellings of NO_PROXY too
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "")
    with pytest.raises(requests.exceptions.ProxyError):
        sender("get", fake.base_url + f"/bot{TOKEN}/getMe", timeout=(1, 1))
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1")
    assert CurlSender()("get", fake.base_url + f"/bot{TOKEN}/getMe").json()["ok"] is True


def test_threads_each_get_their_own_answer(client, fake):
    texts = [f"Ответ {i} & <{i}>" for i in range(40)]
    got: dict[str, str] = {}

    def send(text: str) -> None:
        got[text] = client.send_message(CHAT, text).text

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, texts))
    assert got == {t: t for t in texts}
    assert sorted(c.text for c in fake.calls("sendMessage")) == sorted(texts)


def test_a_refused_connection_is_a_connection_error_and_the_next_call_reconnects(client, fake):
    sender = CurlSender()
    dead = "http://127.0.0.1:9/bot1:x/getMe"  # nothing listens on port 9
    with pytest.raises(requests.exceptions.ConnectionError) as refused:
        sender("post", dead, timeout=(1, 1))
    assert not isinstance(refused.value, requests.exceptions.Timeout)
    assert sender("post", fake.base_url + f"/bot{TOKEN}/getMe").json()["ok"] is True


def test_one_thread_keeps_its_connection_alive(client, fake):
    for i in range(5):
        assert client.send_message(CHAT, f"Сообщение {i}").text == f"Сообщение {i}"
    assert len(fake.calls("sendMessage")) == 5 and fake.connections == 1


def test_a_server_that_went_away_is_connected_to_afresh(client, fake):
    client.send_message(CHAT, "до")
    fake.stop()  # closes the kept-alive connection, as a restarted server does
    fake.start()  # the same port
    assert client.send_message(CHAT, "после").text == "после"
    assert fake.connections == 1  # since the restart


def test_a_slow_answer_on_a_kept_alive_connection_is_a_read_timeout(fake):
    sender = CurlSender()
    url = fake.base_url + f"/bot{TOKEN}/getMe"
    assert sender("post", url, timeout=(2, 2)).json()["ok"] is True  # connected
    fake.delay = 1.0
    with pytest.raises(requests.exceptions.ReadTimeout):
        sender("post", url, timeout=(0.2, 0.3))  # libcurl: 0.5 s for the whole call
    assert fake.connections == 1


class Sent:
    """The one getinfo answer _requests_error reads: how many request bytes went out."""

    def __init__(self, size: int) -> None:
        self.size = size

    def getinfo(self, option: int) -> int:
        assert option == pycurl.REQUEST_SIZE
        return self.size


@pytest.mark.parametrize(("code", "sent", "raised"), [
    (pycurl.E_OPERATION_TIMEDOUT, 0, requests.exceptions.ConnectTimeout),
    (pycurl.E_OPERATION_TIMEDOUT, 212, requests.exceptions.ReadTimeout),
    (pycurl.E_COULDNT_CONNECT, 0, requests.exceptions.ConnectionError),
    (pycurl.E_RECV_ERROR, 212, requests.exceptions.ConnectionError),
])
def test_libcurl_failures_map_to_what_requests_raises(code, sent, raised):
    error = _requests_error(Sent(sent), pycurl.error(code, "failed"))
    assert type(error) is raised and str(error) == "failed"
