"""Runtime guarantees: per-chat order with parallel chats, and dialogues that survive restarts."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date

import psycopg2
import pytest
from conftest import USER_ID, callback_update, message_update
from telebot import types

from bot import create_bot
from dispatch import ChatSerialExecutor
from handlers import texts
from models import Loan

OTHER = 300


def test_updates_of_one_chat_run_in_order_and_other_chats_in_parallel(config, sender, seed,
                                                                      clock):
    seed.person(USER_ID)
    seed.person(OTHER)
    bot = create_bot(replace(config, workers=4), threaded=True, clock=clock)
    sender.delays[("sendMessage", str(USER_ID))] = 0.6  # chat 1's first reply (/help) is slow
    updates = [message_update(USER_ID, "/help"), message_update(USER_ID, "/mine"),
               message_update(OTHER, "/mine")]
    bot.process_new_updates([types.Update.de_json(u) for u in updates])
    bot.executor.shutdown()
    order = [(int(c.params["chat_id"]), c.text) for c in sender.of("sendMessage")]
    # Chat 1: /help is answered before /mine although /help's reply was slow.
    assert [t for chat, t in order if chat == USER_ID] == [texts.HELP_USER, texts.MINE_EMPTY]
    # Chat 2 did not wait for chat 1's slow reply.
    assert order.index((OTHER, texts.MINE_EMPTY)) < order.index((USER_ID, texts.HELP_USER))


def test_executor_runs_one_chat_serially():
    executor = ChatSerialExecutor(4)
    seen: list[int] = []
    active = {"n": 0, "max": 0}
    lock = threading.Lock()

    def task(i: int) -> None:
        with lock:
            active["n"] += 1
            active["max"] = max(active["max"], active["n"])
        threading.Event().wait(0.01)
        seen.append(i)
        with lock:
            active["n"] -= 1

    for i in range(20):
        executor.submit("chat", task, i)
    executor.shutdown()
    assert seen == list(range(20)) and active["max"] == 1
    assert executor.submit("chat", task, 99) is False  # closed: left for the next start


def test_dialogue_survives_a_restart(config, sender, seed, clock):
    seed.person(USER_ID)
    device = seed.device(49)
    first = create_bot(config, threaded=False, clock=clock)
    first.process_new_updates([types.Update.de_json(callback_update(USER_ID, f"take:{device.id}"))])
    first.process_new_updates([types.Update.de_json(message_update(USER_ID, "у клиента"))])
    del first  # the process restarts here
    second = create_bot(config, threaded=False, clock=clock)
    second.process_new_updates([types.Update.de_json(message_update(USER_ID, "10.12.2026"))])
    loan = Loan.get()
    assert (loan.place, loan.due_date) == ("у клиента", date(2026, 12, 10))
    assert sender.last(USER_ID).text.startswith(texts.TAKEN.format(number=49, name="Эвотор 7.2"))


def test_handler_failure_is_logged_and_the_person_told(harness, seed, monkeypatch, caplog):
    seed.person(USER_ID)
    from handlers import browse

    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(browse.loans, "held_by", broken)
    sent = harness.send(USER_ID, "/mine")
    assert sent.last(USER_ID).text == texts.ERROR
    assert "database on fire" in caplog.text


def test_bot_survives_a_database_restart(backend, config, sender, seed, clock, database):
    """Connections killed by the server are replaced (the pool pings on checkout)."""
    if backend != "postgres":
        pytest.skip("SQLite has no server to restart")
    seed.person(USER_ID)
    bot = create_bot(config, threaded=False, clock=clock)
    bot.process_new_updates([types.Update.de_json(message_update(USER_ID, "/mine"))])
    assert sender.last(USER_ID).text == texts.MINE_EMPTY
    database.close()
    admin = psycopg2.connect(database.url)
    admin.autocommit = True
    with admin.cursor() as cursor:  # what a server restart does to every open connection
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    admin.close()
    bot.process_new_updates([types.Update.de_json(message_update(USER_ID, "/mine"))])
    assert sender.last(USER_ID).text == texts.MINE_EMPTY
    assert texts.ERROR not in sender.texts()
