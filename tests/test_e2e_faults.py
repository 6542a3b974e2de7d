"""End to end, the real `python bot.py` polling the fake Bot API: faults never end in an error.

429 and 5xx answers to the confirmation of a take or a return are waited out and retried; the
person never reads that something went wrong. For the database, the bot reaches PostgreSQL
through a TCP relay the test can switch off (every open connection cut, new ones refused), as
an outage does: people get a reply that needs no database, and the bot recovers.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from urllib.parse import urlparse, urlunparse

import psycopg2
import pytest
from conftest import PG_URL
from e2e import press, running_bot, say

from handlers import texts
from models import Loan, init_db
from playground.botapi import FakeBotAPI

pytestmark = pytest.mark.slow
USER = 4343


class Relay:
    """A TCP relay 127.0.0.1:port → target that can be cut and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.listener: socket.socket | None = None
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()

    def up(self) -> None:
        """Accept connections again."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self.listener is not None:
            try:
                # Wakes the thread blocked in accept(); close() alone leaves it listening.
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        with self.lock:
            for sock in self.open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.open.extend([client, server])
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in selector.select():
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                try:
                    sock.close()
                except OSError:
                    pass


def reply(api: FakeBotAPI, text: str) -> str:
    """Send text; the bot's reply once every message it sends for it has gone out."""
    mark = api.mark()
    api.push_message(USER, text)
    first = api.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == USER and c.ok,
                         since=mark, timeout=15)
    time.sleep(0.5)  # anything else it says about this message arrives before the next one
    return first.text


@pytest.fixture
def api(monkeypatch):
    """A running fake Bot API server."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeBotAPI() as server:
        yield server


def test_database_down_gets_a_reply_and_the_bot_recovers(api, tmp_path):
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set: needs PostgreSQL")
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("DROP SCHEMA IF EXISTS public CASCADE")
        cursor.execute("CREATE SCHEMA public")
    admin.close()
    parsed = urlparse(PG_URL)
    relay = Relay((parsed.hostname or "127.0.0.1", parsed.port or 5432))
    relay.up()
    auth = f"{parsed.username}@" if parsed.username else ""
    url = urlunparse(parsed._replace(netloc=f"{auth}127.0.0.1:{relay.port}"))
    try:
        with running_bot(api, tmp_path, DATABASE_URL=url) as process:
            assert reply(api, "/start") == texts.ASK_EMAIL
            relay.down()
            assert reply(api, "/start") == texts.DB_UNAVAILABLE
            assert reply(api, "эвотор") == texts.DB_UNAVAILABLE
            relay.up()
            assert reply(api, "/start") == texts.ASK_EMAIL
            assert process.poll() is None
    finally:
        relay.down()
    assert texts.ERROR not in [c.text for c in api.calls("sendMessage")]


def test_take_and_return_confirmations_outlast_429_and_5xx(api, tmp_path):
    from test_e2e import seed_devices

    seed_devices(tmp_path)
    user = 4242  # the person seed_devices registers
    with running_bot(api, tmp_path):
        ask_place = press(api, user, say(api, user, "эвотор"), texts.BTN_TAKE)
        ask_due = press(api, user, ask_place, texts.BTN_SKIP, expect="editMessageText")
        api.fail_next("editMessageText", status=429, retry_after=1, chat_id=user)
        mark = api.mark()
        api.push_callback(user, button_of(ask_due, texts.BTN_WEEK),
                          message_id=ask_due.result["message_id"])
        taken = api.wait_for(lambda c: c.method == "editMessageText" and c.chat_id == user
                             and c.ok, since=mark, timeout=20)
        assert taken.text.startswith(texts.TAKEN.format(number=49, name="Эвотор 7.2"))
        refused = [c for c in api.calls("editMessageText", chat_id=user)
                   if c.index >= mark and not c.ok]
        assert refused, "the 429 was not played"
        confirm = press(api, user, taken, texts.BTN_RETURN, expect="editMessageText")
        api.fail_next("editMessageText", status=502, times=2, chat_id=user)
        mark = api.mark()
        api.push_callback(user, button_of(confirm, texts.BTN_YES_RETURNED),
                          message_id=confirm.result["message_id"])
        done = api.wait_for(lambda c: c.method == "editMessageText" and c.chat_id == user
                            and c.ok, since=mark, timeout=20)
        assert len([c for c in api.calls("editMessageText", chat_id=user)
                    if c.index >= mark and not c.ok]) == 2
        assert done.text.startswith(texts.RETURNED.format(number=49, name="Эвотор 7.2"))
        time.sleep(0.5)
    said = api.sent_texts(user, include_edits=True)
    assert texts.ERROR not in said
    assert texts.ERROR_SHORT not in [c.params.get("text") for c in api.calls(
        "answerCallbackQuery")]
    database = init_db(f"sqlite:///{tmp_path / 'bot.db'}")
    assert Loan.get().returned_at is not None
    database.close()


def button_of(call, label: str) -> str:
    """callback_data of the button labelled label under call's message."""
    from e2e import button_data

    return button_data(call, label)
