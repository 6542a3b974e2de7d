"""Queries per screen must not grow with the number of devices."""

from __future__ import annotations

from datetime import date

from conftest import USER_ID

from inventory import loans
from inventory.devices import search_text_for
from models import Category, Device, Person


def fill(first: int, last: int, now) -> Category:
    """Devices first..last in two categories, every fifth held by someone else."""
    scales = Category.get_or_create(name="Весы")[0]
    scanners = Category.get_or_create(name="Сканер")[0]
    other = Person.get_or_create(telegram_id=7, email="o@company.ru", name="Другой")[0]
    rows = [{"number": i, "name": f"Эвотор {i}", "serial": f"SN{i:06d}",
             "category": scales if i % 2 else scanners,
             "search_text": search_text_for(f"Эвотор {i}", f"SN{i:06d}")}
            for i in range(first, last + 1)]
    for start in range(0, len(rows), 500):
        Device.insert_many(rows[start:start + 500]).execute()
    for device in Device.select().where(Device.number >= first):
        if device.number % 5 == 0:
            loans.take(device.id, other, now=now, due_date=date(2026, 12, 1))
    return scales


class Counter:
    """Counts SQL statements sent to the database."""

    def __init__(self, database):
        self.n = 0
        self.database = database
        self.original = database.execute_sql

    def __call__(self, *args, **kwargs):
        self.n += 1
        return self.original(*args, **kwargs)


def screen_counts(harness, database, scales) -> dict[str, int]:
    """Statements issued by each screen."""
    harness.send(USER_ID, "/help")  # the first message stores the Telegram profile
    counter = Counter(database)
    database.execute_sql = counter
    device_id = Device.get(Device.number == 5).id
    screens = {
        "/all": lambda: harness.send(USER_ID, "/all"),
        "all page 2": lambda: harness.press(USER_ID, "all:2"),
        "category": lambda: harness.press(USER_ID, f"cat:{scales.id}:1"),
        "/categories": lambda: harness.send(USER_ID, "/categories"),
        "search list": lambda: harness.send(USER_ID, "эвотор"),
        "search hit": lambda: harness.send(USER_ID, "SN000005"),
        "card": lambda: harness.press(USER_ID, f"card:{device_id}"),
        "/mine": lambda: harness.send(USER_ID, "/mine"),
    }
    counts = {}
    try:
        for name, show in screens.items():
            counter.n = 0
            show()
            counts[name] = counter.n
    finally:
        del database.execute_sql
    assert not [c for c in harness.sender.texts() if "Что-то пошло не так" in c]
    return counts


def test_queries_per_screen_do_not_grow(backend, conn, harness, clock):
    scales = fill(1, 10, clock.now)
    user = Person.create(telegram_id=USER_ID, email="u@company.ru", name="Юзер")
    for number in (1, 2, 3):
        loans.take(Device.get(Device.number == number).id, user, now=clock.now)
    small = screen_counts(harness, conn, scales)
    fill(11, 2000, clock.now)
    for number in range(11, 40):
        if number % 5:  # the user now holds many more devices too
            loans.take(Device.get(Device.number == number).id, user, now=clock.now)
    large = screen_counts(harness, conn, scales)
    assert all(0 < c <= 8 for c in small.values()), small
    assert large == small, f"2000 devices: {large} vs 10 devices: {small}"
