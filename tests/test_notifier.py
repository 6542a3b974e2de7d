"""The notifier: 403 marks unreachable, 429 waits retry_after, 5xx and network errors retry."""

from __future__ import annotations

import pytest
import requests
from conftest import USER_ID

from models import Person
from notices import Delivery
from outbox.notifier import Notifier, Pacer


@pytest.fixture
def notifier(harness):
    """A notifier whose sleeps are recorded instead of slept."""
    slept: list[float] = []
    n = Notifier(harness.bot, sleep=slept.append)
    n.slept = slept
    return n


def test_sends(notifier, seed, sender):
    person = seed.person(USER_ID)
    assert notifier.send(person, "привет") is Delivery.SENT
    assert sender.texts(USER_ID) == ["привет"]


def test_403_marks_unreachable_and_goes_on(notifier, seed, sender):
    person = seed.person(USER_ID)
    sender.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert notifier.send(person, "привет") is Delivery.UNREACHABLE
    assert Person.get_by_id(person.id).reachable is False
    assert len(sender.of("sendMessage")) == 1
    assert notifier.send(person, "снова") is Delivery.SENT
    assert Person.get_by_id(person.id).reachable is True


def test_429_waits_retry_after_and_retries(notifier, seed, sender):
    person = seed.person(USER_ID)
    sender.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    assert notifier.send(person, "привет") is Delivery.SENT
    assert notifier.slept == [7.0]
    assert len(sender.of("sendMessage")) == 2


def test_5xx_retries_with_backoff_then_gives_up(notifier, seed, sender):
    person = seed.person(USER_ID)
    sender.fail("sendMessage", 502, "Bad Gateway", times=10)
    assert notifier.send(person, "привет") is Delivery.FAILED
    assert notifier.slept == [0.5, 1.0, 2.0]
    assert Person.get_by_id(person.id).reachable is True


def test_network_error_retries(notifier, seed, sender, monkeypatch):
    person = seed.person(USER_ID)
    calls = {"n": 0}
    original = sender.__class__.__call__

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise requests.ConnectionError("boom")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sender.__class__, "__call__", flaky)
    assert notifier.send(person, "привет") is Delivery.SENT
    assert notifier.slept == [0.5]


def test_person_without_telegram_is_skipped(notifier, seed, sender):
    person = seed.person(None, email="only@company.ru")
    assert notifier.send(person, "привет") is Delivery.SKIPPED
    assert sender.calls == []


def test_pacer_spaces_sends():
    slept: list[float] = []
    now = [0.0]
    pacer = Pacer(25, sleep=slept.append, clock=lambda: now[0])
    for _ in range(3):
        pacer.wait()
    assert slept == pytest.approx([0.04, 0.08])


def test_send_chat_reaches_a_chat_without_person_row(notifier, conn, sender):
    assert notifier.send_chat(4242, "дайджест") is Delivery.SENT
    assert sender.texts(4242) == ["дайджест"]


def test_send_chat_403_and_429_without_person_row(notifier, seed, sender):
    person = seed.person(USER_ID)
    sender.fail("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    assert notifier.send_chat(4242, "дайджест") is Delivery.SENT
    assert notifier.slept == [3.0]
    sender.fail("sendMessage", 403, "Forbidden: bot can't initiate conversation with a user")
    assert notifier.send_chat(4242, "дайджест") is Delivery.UNREACHABLE
    # Nobody's stored reachability changes for a bare chat id.
    assert Person.get_by_id(person.id).reachable is True
