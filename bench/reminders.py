"""Benchmark of the daily reminder run: 10,000 open loans, 2,000 of them due, sending stubbed."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from telebot.types import InlineKeyboardMarkup

from bench.common import Result, fresh_database, measure, settle
from config import Config
from models import AuditLog, Category, Device, Loan, Person, db
from notices import Delivery

logger = logging.getLogger(__name__)

TODAY = date(2026, 11, 26)  # a Thursday
NOW = datetime(2026, 11, 26, 7, 0)
TARGET_MS = 2000.0
BATCH = 500


class StubSender:
    """Sends nothing, answers SENT at once: the benchmark measures the job, not Telegram."""

    def __init__(self) -> None:
        self.messages = 0

    def send(self, person: Person, text: str,
             markup: InlineKeyboardMarkup | None = None) -> Delivery:
        """Count a message to a person."""
        self.messages += 1
        return Delivery.SENT

    def send_chat(self, chat_id: int, text: str,
                  markup: InlineKeyboardMarkup | None = None) -> Delivery:
        """Count a message to a chat."""
        self.messages += 1
        return Delivery.SENT


def populate(loans: int, due: int, people: int) -> None:
    """`loans` open loans, one device each; the first `due` are due (each of a different holder
    while there are enough people: the worst case, one claim per due loan)."""
    with db.atomic():
        category = Category.create(name="Онлайн-касса")
        rows = [{"telegram_id": 10_000 + i, "email": f"user{i}@company.ru",
                 "name": f"Сотрудник {i}"} for i in range(people)]
        for start in range(0, len(rows), BATCH):
            Person.insert_many(rows[start:start + BATCH]).execute()
        person_ids = [p.id for p in Person.select(Person.id).order_by(Person.id)]
        rows = [{"number": n, "name": f"Эвотор 7.2 #{n}", "serial": f"SN-{n:06d}",
                 "category": category.id, "search_text": f"эвотор 7.2 #{n} sn-{n:06d}"}
                for n in range(1, loans + 1)]
        for start in range(0, len(rows), BATCH):
            Device.insert_many(rows[start:start + BATCH]).execute()
        device_ids = [d.id for d in Device.select(Device.id).order_by(Device.id)]
        loan_rows = []
        for i, device_id in enumerate(device_ids):
            if i < due:
                due_date = TODAY + timedelta(days=1 - i % 10)  # tomorrow ... 8 days overdue
            else:
                due_date = None if i % 3 == 0 else TODAY + timedelta(days=10 + i % 30)
            loan_rows.append({"device": device_id, "person": person_ids[i % people],
                              "taken_at": NOW - timedelta(days=20), "due_date": due_date})
        for start in range(0, len(loan_rows), BATCH):
            Loan.insert_many(loan_rows[start:start + BATCH]).execute()
    settle(db.obj)


def reset() -> None:
    """Forget that today's run happened."""
    Loan.update(reminded_on=None).execute()
    AuditLog.delete().where(AuditLog.action.startswith("reminders")).execute()


def run(backend: str, small: bool) -> list[Result]:
    """Time one full run (claims, rendering, digest) and a repeated run the same day."""
    from jobs.reminders import run as reminder_run

    loans, due, people = (60, 12, 20) if small else (10_000, 2_000, 2_000)
    repeat = 2 if small else 5
    database, _ = fresh_database(backend)
    try:
        populate(loans, due, people)
        config = Config(bot_token="1:BENCH", admin_ids=frozenset({1, 2}))
        sender = StubSender()
        name = f"run: {due} due of {loans}"

        def one_run() -> None:
            report = reminder_run(TODAY, sender, config, NOW)
            assert report.sent == min(due, people), report.line()

        median, p95 = measure(one_run, repeat, setup=reset)
        results = [Result("reminders", backend, name, median, p95, TARGET_MS)]
        reset()
        reminder_run(TODAY, sender, config, NOW)
        median, p95 = measure(lambda: reminder_run(TODAY, sender, config, NOW), repeat)
        results.append(Result("reminders", backend, "rerun same day (no-op)", median, p95,
                              TARGET_MS))
        return results
    finally:
        database.close()
