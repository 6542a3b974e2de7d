"""SQLite under a burst: writers wait their turn in arrival order instead of failing."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import ADMIN_ID, callback_update, message_update
from telebot import types

from handlers import texts
from models import Device, Person, db
from sqlite_db import TurnLock

PEOPLE = 12


def test_turn_lock_hands_over_in_arrival_order():
    lock = TurnLock()
    assert lock.acquire()
    order: list[int] = []
    threads = []
    for i in range(8):
        thread = threading.Thread(target=lambda i=i: (lock.acquire(), order.append(i),
                                                      lock.release()))
        thread.start()
        threads.append(thread)
        time.sleep(0.02)  # each one queues before the next arrives
    lock.release()
    for thread in threads:
        thread.join(5)
    assert order == list(range(8))


def test_turn_lock_gives_up_after_its_timeout():
    lock = TurnLock()
    assert lock.acquire()
    assert lock.acquire(timeout=0.05) is False
    lock.release()
    assert lock.acquire(timeout=0.05) is True


def feed_together(bot, scripts: list[list[dict]]) -> None:
    """Each script's updates in its own thread, the threads released together."""
    barrier = threading.Barrier(len(scripts))
    failures: list[BaseException] = []

    def run(script: list[dict]) -> None:
        try:
            barrier.wait()
            for update in script:
                bot.process_new_updates([types.Update.de_json(update)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(script,)) for script in scripts]
    db.close()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    db.connect(reuse_if_open=True)
    assert not failures


def test_a_burst_of_registrations_and_a_delete_never_fails(make_harness, sender, seed, conn):
    """12 people send their email at the same moment while an admin deletes a device."""
    if not conn.__class__.__name__.startswith("Serial"):
        pytest.skip("SQLite only")
    harness = make_harness()
    seed.person(ADMIN_ID, name="Админ")
    device = seed.device(49)
    users = [7000 + i for i in range(PEOPLE)]
    for user in users:  # each is asked for their email first
        harness.send(user, "/start")
    sender.clear()
    scripts = [[message_update(user, f"person{user}@company.ru")] for user in users]
    scripts.append([callback_update(ADMIN_ID, f"delo:{device.id}")])
    feed_together(harness.bot, scripts)
    assert texts.ERROR not in sender.texts() and texts.DB_UNAVAILABLE not in sender.texts()
    assert texts.ERROR_SHORT not in sender.alerts()
    assert Person.select().where(Person.telegram_id.in_(users)).count() == PEOPLE
    assert not Device.select().exists()
