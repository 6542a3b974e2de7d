"""Handler timings on a realistic inventory: from process_new_updates to the last API call."""

from __future__ import annotations

import logging
import random
from datetime import date, datetime

from telebot import apihelper, types

from bench.common import FakeResponse, Result, fresh_database, measure, settle, update_builders
from config import Config
from inventory.devices import search_text_for
from models import Category, Device, Loan, Person, utcnow

logger = logging.getLogger(__name__)

TARGET_MS = 15.0
USER = 10_000_001


class NullSender:
    """Answers every Bot API call instantly, like a very fast Telegram."""

    def __call__(self, method: str, url: str, params: dict | None = None, **_: object):
        name = url.rsplit("/", 1)[-1]
        result: object = True
        if name in ("sendMessage", "editMessageText"):
            result = {"message_id": 1, "date": 0, "chat": {"id": USER, "type": "private"}}
        return FakeResponse({"ok": True, "result": result})


def populate(devices: int, people: int, loans: int, now: datetime) -> None:
    """devices devices, people people, loans open loans (bulk inserts)."""
    categories = [Category.create(name=f"Категория {i}") for i in range(7)]
    rows = [{"number": i, "name": f"Эвотор {i}", "serial": f"ZN{i:08d}",
             "category": categories[i % 7].id, "search_text": search_text_for(f"Эвотор {i}",
                                                                            f"ZN{i:08d}")}
            for i in range(1, devices + 1)]
    for start in range(0, len(rows), 1000):
        Device.insert_many(rows[start:start + 1000]).execute()
    person_rows = [{"telegram_id": 1000 + i, "email": f"p{i}@company.ru", "name": f"Сотрудник {i}"}
                   for i in range(people)]
    for start in range(0, len(person_rows), 1000):
        Person.insert_many(person_rows[start:start + 1000]).execute()
    Person.create(telegram_id=USER, email="bench@company.ru", name="Бенч")
    person_ids = [p.id for p in Person.select(Person.id)]
    device_ids = [d.id for d in Device.select(Device.id).order_by(Device.id)]
    rng = random.Random(1)
    held = rng.sample(device_ids[: devices // 2], loans)
    loan_rows = [{"device": d, "person": rng.choice(person_ids), "taken_at": now,
                  "due_date": date(2026, 12, rng.randint(1, 28)), "place": "офис"}
                 for d in held]
    for start in range(0, len(loan_rows), 1000):
        Loan.insert_many(loan_rows[start:start + 1000]).execute()


def run(backend: str, small: bool) -> list[Result]:
    """Measure the everyday screens on one backend."""
    from bot import create_bot

    devices, people, open_loans, repeat = (60, 10, 20, 5) if small else (10_000, 1_000, 3_000, 60)
    database, url = fresh_database(backend)
    now = utcnow()
    populate(devices, people, open_loans, now)
    settle(database)
    database.close()
    previous = apihelper.CUSTOM_REQUEST_SENDER
    apihelper.CUSTOM_REQUEST_SENDER = NullSender()
    try:
        bot = create_bot(Config(bot_token="1:BENCH", database_url=url), threaded=False)
        ids = iter(range(1, 10**9))

        def feed(update: dict) -> None:
            bot.process_new_updates([types.Update.de_json({"update_id": next(ids), **update})])

        message, press = update_builders(USER)

        free = [d.id for d in Device.select(Device.id).where(Device.number > devices // 2)
                .order_by(Device.id)]
        middle = max(1, devices // 16)
        taken: list[int] = []

        def take() -> None:
            device_id = free.pop()
            feed(press(f"take:{device_id}"))
            feed(press("tkp:skip"))
            taken.append(device_id)

        def timed_take() -> None:
            feed(press("tkd:week"))

        cases = {
            "/all page 1": lambda: feed(message("/all")),
            "/all middle page": lambda: feed(press(f"all:{middle}")),
            "search hit": lambda: feed(message(f"ZN{devices // 3:08d}")),
            "card": lambda: feed(press(f"card:{devices // 3}")),
        }
        results = []
        for name, fn in cases.items():
            median, p95 = measure(fn, repeat)
            results.append(Result("handlers", backend, name, median, p95, TARGET_MS))
        median, p95 = measure(timed_take, repeat, setup=take)
        results.append(Result("handlers", backend, "take (last step)", median, p95, TARGET_MS))
        median, p95 = measure(lambda: feed(press(f"reto:{taken.pop()}")), repeat)
        results.append(Result("handlers", backend, "return (confirm)", median, p95, TARGET_MS))
        return results
    finally:
        apihelper.CUSTOM_REQUEST_SENDER = previous
        database.close()
