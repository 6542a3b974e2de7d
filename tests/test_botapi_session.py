"""The Bot API session: the same parameters reach Telegram as through a plain requests.Session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from requests.models import RequestEncodingMixin

from outbox.botapi import FORM, BotApiSession, form_body
from playground.botapi import FakeBotAPI

TOKEN = "123456:TEST-token"
MARKUP = json.dumps({"inline_keyboard": [[{"text": "Взять «Эвотор 5»",
                                           "callback_data": "take:5"}]]}, ensure_ascii=False)
PARAMS: dict = {"chat_id": 4242, "text": "<b>Эвотор 5</b> — ZN 5 &amp; a=b+c ~_.-!'\"\n\t%😀",
                "reply_markup": MARKUP, "parse_mode": "HTML", "show_alert": True,
                "disable_notification": False, "reply_to_message_id": None}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBotAPI]:
    """A running fake Bot API server, reached without a proxy."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with FakeBotAPI() as server:
        yield server


def test_form_body_is_what_requests_encodes() -> None:
    """Text, JSON, ints, floats, booleans and bytes as urlencode writes them; None left out."""
    cases = [PARAMS, {"k": b"\xff\x00 a", b"raw": "x y"}, {"empty": ""},
             {"n": 0, "m": -7, "rate": 1.5}]
    for params in cases:
        body = form_body(params)
        assert body is not None
        assert body.decode("ascii") == RequestEncodingMixin._encode_params(params)
    assert b"reply_to_message_id" not in form_body(PARAMS)  # type: ignore[operator]


def test_form_body_declines_values_it_does_not_match() -> None:
    """A list (requests would repeat the key) goes the ordinary way."""
    assert form_body({"chat_id": 1, "ids": [1, 2]}) is None
    assert form_body({1: "x"}) is None


def test_post_arrives_with_the_same_parameters(fake: FakeBotAPI) -> None:
    """sendMessage through the session and through plain requests: the same call recorded."""
    url = f"{fake.base_url}/bot{TOKEN}/sendMessage"
    plain = requests.Session().request("post", url, params=dict(PARAMS), timeout=5)
    ours = BotApiSession().request("post", url, params=dict(PARAMS), timeout=5)
    assert plain.json()["ok"] and ours.json()["ok"]
    first, second = fake.calls("sendMessage")
    assert first.params == second.params
    assert second.params["text"] == PARAMS["text"]
    assert second.params["reply_markup"] == json.loads(MARKUP)
    assert ours.request.url == url  # the parameters travelled in the body
    assert ours.request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_get_and_uploads_are_left_alone(fake: FakeBotAPI) -> None:
    """getUpdates keeps its query string; a document keeps its multipart form."""
    session = BotApiSession()
    answer = session.request("get", f"{fake.base_url}/bot{TOKEN}/getUpdates",
                             params={"timeout": 0}, timeout=5)
    assert answer.json()["ok"] and "timeout=0" in str(answer.request.url)
    sent = session.request("post", f"{fake.base_url}/bot{TOKEN}/sendDocument",
                           params={"chat_id": 4242, "caption": "Отчёт"},
                           files={"document": ("a.csv", b"1;2\n")}, timeout=5)
    assert sent.json()["ok"]
    assert "caption=" in str(sent.request.url)
    assert fake.calls("sendDocument")[0].params["caption"] == "Отчёт"


def test_environment_is_read_again_when_it_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxies follow the environment as requests reads it, cached only while it is unchanged."""
    session = BotApiSession()
    url = "https://api.telegram.org/bot1:X/sendMessage"
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    plain = requests.Session()
    assert session.merge_environment_settings(url, {}, None, None, None) == \
        plain.merge_environment_settings(url, {}, None, None, None)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.local:3128")
    settings = session.merge_environment_settings(url, {}, None, None, None)
    assert settings["proxies"]["https"] == "http://proxy.local:3128"
    assert settings == plain.merge_environment_settings(url, {}, None, None, None)
    monkeypatch.setenv("NO_PROXY", "api.telegram.org")
    assert session.merge_environment_settings(url, {}, None, None, None) == \
        plain.merge_environment_settings(url, {}, None, None, None)
    settings["proxies"]["https"] = "changed by a caller"
    assert session.merge_environment_settings(url, {}, None, None, None) == \
        plain.merge_environment_settings(url, {}, None, None, None)


def test_prepared_post_is_what_requests_prepares(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """URL, headers (a .netrc's Authorization too) and body as requests prepares them."""
    url = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
    netrc = tmp_path / "netrc"
    monkeypatch.setenv("NETRC", str(netrc))
    session, plain = BotApiSession(), requests.Session()

    def prepared(which: requests.Session, text: str) -> requests.PreparedRequest:
        body = form_body({"chat_id": 1, "text": text})
        return which.prepare_request(requests.Request(
            "POST", url, headers={"Content-Type": FORM}, data=body, params={}))

    for text in ("Привет", "Второе сообщение, длиннее"):
        ours, theirs = prepared(session, text), prepared(plain, text)
        assert (ours.method, ours.url, ours.body) == (theirs.method, theirs.url, theirs.body)
        assert dict(ours.headers) == dict(theirs.headers)
    netrc.write_text("machine api.telegram.org login bot password secret\n")
    monkeypatch.setenv("NETRC", str(netrc))  # the same value: the file is read once per value
    other = tmp_path / "netrc2"
    other.write_text(netrc.read_text())
    monkeypatch.setenv("NETRC", str(other))
    ours, theirs = prepared(session, "x"), prepared(plain, "x")
    assert ours.headers["Authorization"] == theirs.headers["Authorization"]
    assert dict(ours.headers) == dict(theirs.headers)


def test_session_with_cookies_prepares_the_ordinary_way() -> None:
    """A session that holds cookies merges them as requests does."""
    session = BotApiSession()
    session.cookies.set("k", "v", domain="api.telegram.org")
    request = requests.Request("POST", "https://api.telegram.org/bot1:X/sendMessage",
                               headers={"Content-Type": FORM}, data=b"a=1", params={})
    assert session.prepare_request(request).headers["Cookie"] == "k=v"
