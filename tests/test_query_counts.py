"""Statements per update, counted at the driver, must not grow with the number of devices."""

from __future__ import annotations

from datetime import date

from conftest import USER_ID, callback_update

from bench.statements import StatementCounter, drop_connections
from inventory import loans, search_plan
from inventory.devices import search_text_for
from models import Category, Device, Person

READ_LIMIT = 6  # a screen that only reads, everything included (ping, BEGIN, COMMIT)
WRITE_LIMIT = 10  # a step that writes


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


def press(harness, data: str):
    """A button press from the same Telegram profile the messages carry (no profile UPDATE)."""
    update = callback_update(USER_ID, data)
    update["callback_query"]["from"]["last_name"] = "Петров"
    return harness.update(update)


def screen_counts(harness, database, scales) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Statements each screen and each step of the take/return dialogue sends."""
    harness.send(USER_ID, "/help")  # the first message stores the Telegram profile
    device_id = Device.get(Device.number == 7).id
    free_id = Device.get(Device.number == 9).id
    reads = {
        "/all": lambda: harness.send(USER_ID, "/all"),
        "all page 2": lambda: press(harness, "all:2"),
        "category": lambda: press(harness, f"cat:{scales.id}:1"),
        "/categories": lambda: harness.send(USER_ID, "/categories"),
        "search list": lambda: harness.send(USER_ID, "эвотор"),
        "search paging": lambda: press(harness, "sq:2:эвотор"),
        "search hit": lambda: harness.send(USER_ID, "SN000007"),
        "sticker number": lambda: harness.send(USER_ID, "7"),
        "card": lambda: press(harness, f"card:{device_id}"),
        "/mine": lambda: harness.send(USER_ID, "/mine"),
        "/wishlist": lambda: harness.send(USER_ID, "/wishlist"),
    }
    writes = {
        "take": lambda: press(harness, f"take:{free_id}"),
        "take: skip place": lambda: press(harness, "tkp:skip"),
        "take: in a week": lambda: press(harness, "tkd:week"),
        "return": lambda: press(harness, f"ret:{free_id}"),
        "return: confirm": lambda: press(harness, f"reto:{free_id}"),
    }
    counts: dict[str, int] = {}
    logs: dict[str, list[str]] = {}
    # Both sizes count their search trigrams afresh: a search that has to sends one statement
    # more, and the comparison must not turn on what the first pass left counted.
    search_plan.COUNTS.forget()
    with StatementCounter() as counter:
        drop_connections(database)
        harness.send(USER_ID, "/help")  # warms the pool up under the counter
        for name, step in {**reads, **writes}.items():
            counter.reset()
            step()
            counts[name], logs[name] = counter.count, list(counter.log)
    database.connect(reuse_if_open=True)
    assert not [c for c in harness.sender.texts() if "Что-то пошло не так" in c]
    return counts, logs


def counts_at_two_sizes(harness, conn, clock) -> tuple[dict, dict, dict]:
    """Statements per screen and step at 10 devices and at 2,000 (plus the 10-device log)."""
    scales = fill(1, 10, clock.now)
    user = Person.create(telegram_id=USER_ID, email="u@company.ru", name="Юзер")
    for number in (1, 2, 3):
        loans.take(Device.get(Device.number == number).id, user, now=clock.now)
    small, logs = screen_counts(harness, conn, scales)
    fill(11, 2000, clock.now)
    for number in range(11, 40):
        if number % 5:  # the user now holds many more devices too
            loans.take(Device.get(Device.number == number).id, user, now=clock.now)
    large, _ = screen_counts(harness, conn, scales)
    return small, large, logs


def is_write(name: str) -> bool:
    """Whether a counted step writes (the take and return dialogue)."""
    return name.startswith(("take", "return"))


def test_statements_per_update_do_not_grow(backend, conn, harness, clock):
    small, large, logs = counts_at_two_sizes(harness, conn, clock)
    reads = {k: v for k, v in small.items() if not is_write(k)}
    assert all(0 < c <= READ_LIMIT for c in reads.values()), (reads, logs)
    assert large == small, f"2000 devices: {large} vs 10 devices: {small}"


def test_write_steps_within_ten_statements(backend, conn, harness, clock):
    small, _, logs = counts_at_two_sizes(harness, conn, clock)
    writes = {k: v for k, v in small.items() if is_write(k)}
    assert all(0 < c <= WRITE_LIMIT for c in writes.values()), (writes, logs)
