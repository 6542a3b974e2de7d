"""A burst: many people at the same moment, each registering, searching, taking and returning.

Every person runs in their own thread (as if WORKERS were that large) so their updates meet in
the database at once. Reported per backend: the median and p95 of one update, p95/median
(target ≤ 4: waiting is fair, nobody starves) and errors (a person told that something went
wrong, or an update that raised). SQLite is measured in the mode the bot uses — BEGIN IMMEDIATE
with writers taking turns in arrival order (sqlite_db.py) — and, for comparison, with BEGIN
IMMEDIATE alone and with plain deferred transactions (the behaviour before).
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from telebot import apihelper, types

from bench.common import FakeResponse, Result, fresh_database, update_builders
from config import Config
from handlers import texts
from inventory.devices import search_text_for
from models import Category, Device, Loan

logger = logging.getLogger(__name__)

FAIRNESS = 4.0  # target: p95 ≤ 4 × median
FIRST_USER = 20_000_000
FAILURE_TEXTS = {texts.ERROR, texts.ERROR_SHORT, texts.DB_UNAVAILABLE, texts.DB_UNAVAILABLE_SHORT}
# How the SQLite database is driven: (label, BEGIN lock type, writers take turns in-process).
SQLITE_MODES = [
    ("burst: immediate+turns", "IMMEDIATE", True),
    ("burst: immediate only", "IMMEDIATE", False),
    ("burst: deferred (before)", None, False),
]


@dataclass
class FailureCounter:
    """A Bot API transport that answers at once and counts the failure messages sent."""

    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, method: str, url: str, params: dict | None = None, **_: object):
        name = url.rsplit("/", 1)[-1]
        params = params or {}
        if str(params.get("text", "")) in FAILURE_TEXTS:
            with self.lock:
                self.failures += 1
        result: object = True
        if name in ("sendMessage", "editMessageText"):
            chat = int(params.get("chat_id", 0) or 0)
            result = {"message_id": 1, "date": 0, "chat": {"id": chat, "type": "private"}}
        return FakeResponse({"ok": True, "result": result})


def person_script(user: int, device_id: int, number: int) -> list[dict]:
    """The updates one person sends: register, search, card, take (three steps), return."""
    message, press = update_builders(user, first_name="Сотрудник")
    return [message("/start"), message(f"person{user}@company.ru"), message(f"ZN{number:08d}"),
            press(f"card:{device_id}"), press(f"take:{device_id}"), press("tkp:skip"),
            press("tkd:week"), press(f"reto:{device_id}")]


def burst(bot_factory: Callable[[], object], people: int, device_ids: list[int],
          numbers: list[int]) -> tuple[list[float], int]:
    """Run every person's script in its own thread, released together; (latencies ms, raised)."""
    bot = bot_factory()
    barrier = threading.Barrier(people)
    samples: list[float] = []
    raised = [0]
    lock = threading.Lock()
    ids = iter(range(1, 10**9))

    def person(i: int) -> None:
        script = person_script(FIRST_USER + i, device_ids[i], numbers[i])
        mine = []
        barrier.wait()
        for update in script:
            with lock:
                update_id = next(ids)
            start = time.perf_counter()
            try:
                bot.process_new_updates([types.Update.de_json({"update_id": update_id,
                                                                **update})])
            except Exception:  # noqa: BLE001 - counted as an error of the burst
                logger.exception("update raised during the burst")
                with lock:
                    raised[0] += 1
            mine.append((time.perf_counter() - start) * 1000)
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=person, args=(i,)) for i in range(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples, raised[0]


def summary(section: str, backend: str, name: str, samples: list[float], errors: int,
            target: bool) -> Result:
    """Median, p95, the ratio and errors as one result row."""
    samples.sort()
    median = statistics.median(samples)
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    ratio = p95 / median if median else 0.0
    return Result(section, backend, name, median, p95,
                  FAIRNESS * median if target else None, errors=errors,
                  note=f"p95/median {ratio:.1f}, errors {errors}", judged_ms=target)


def run(backend: str, small: bool) -> list[Result]:
    """The burst on one backend (SQLite: in each writer mode)."""
    from bot import create_bot

    people = 6 if small else 50
    # The target is SQLite's (the default database); PostgreSQL is reported next to it.
    modes = SQLITE_MODES if backend == "sqlite" else [("burst: 50 people", None, False)]
    results = []
    for label, lock_type, turns in modes:
        database, url = fresh_database(backend)
        if backend == "sqlite":
            database._lock_type = lock_type
            database.serialise = turns
        category = Category.create(name="Онлайн-касса")
        for number in range(1, people + 1):
            serial = f"ZN{number:08d}"
            Device.create(number=number, name=f"Эвотор {number}", serial=serial,
                          category=category, search_text=search_text_for("Эвотор", serial))
        devices = list(Device.select(Device.id, Device.number).order_by(Device.number))
        database.close()
        counter = FailureCounter()
        previous = apihelper.CUSTOM_REQUEST_SENDER
        apihelper.CUSTOM_REQUEST_SENDER = counter
        # Failures are counted below; their tracebacks (deferred mode) would bury the table.
        logging.disable(logging.CRITICAL)
        try:
            samples, raised = burst(
                lambda u=url: create_bot(Config(bot_token="1:BENCH", database_url=u,
                                                registration="open"), threaded=False),
                people, [d.id for d in devices], [d.number for d in devices])
        finally:
            logging.disable(logging.NOTSET)
            apihelper.CUSTOM_REQUEST_SENDER = previous
        name = label.replace("50", str(people))
        # Every person's script ends with a take and a return: a missing loan is an error too
        # (a person the bot never registered would answer fast and flatter the figures).
        database.connect(reuse_if_open=True)
        missing = people - Loan.select().where(Loan.returned_at.is_null(False)).count()
        database.close()
        results.append(summary("burst", backend, name, samples,
                               counter.failures + raised + max(missing, 0), target=turns))
    return results
