"""Speed against the physical limits, judged by ratios to baselines measured in the same run.

- **round trips**: the real bot polls the emulator, which adds a fixed latency (one "round
  trip", RT) to every Bot API call. For each screen and button: when the visible reply's
  request left (target ≤ 0.3 RT after the update) and when the update's last call completed
  (≤ 1.3 RT).
- **throughput**: people in a closed loop (each waits for the reply before the next update)
  against a bare telebot echo bot on the same emulator, then devtrack; ratio ≥ 0.5, and
  devtrack's p95 ≤ 4 × its median.
- **scaling**: per-update time at the large inventory over the small one (≤ 1.2) for search,
  card, /all and /mine, and statements per update counted at the driver (the same at both
  sizes; ≤ 6 for these read-only screens).
"""

from __future__ import annotations

import logging
import os
import queue
import statistics
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import peewee as pw
from telebot import TeleBot, apihelper

from bench.common import (
    Result,
    create_sibling,
    drop_sibling,
    fresh_database,
    settle,
    summary,
    timings,
    update_builders,
)
from bench.statements import StatementCounter, drop_connections
from config import Config
from inventory import search_plan
from inventory.devices import search_text_for
from models import Category, Device, Loan, Person, db, utcnow
from outbox.transport import use_curl_sender
from playground.botapi import FakeBotAPI

logger = logging.getLogger(__name__)

RT = 0.1  # the emulator's latency per call in the round-trip run (seconds)
VISIBLE_LIMIT, LAST_LIMIT = 0.3, 1.3  # in round trips
THROUGHPUT_LIMIT, FAIRNESS, SCALING_LIMIT, READ_STATEMENTS = 0.5, 4.0, 1.2, 6
VISIBLE = ("sendMessage", "editMessageText")
FIRST_USER = 30_000_000
TOKEN = "1:SPEED"
# Reported, not judged: the holder's answer depends on whether the colleague's request was
# delivered, so it waits for that call (a typed step, not a button).
INFO_STEPS = {"handover: colleague"}


# --- shared plumbing -------------------------------------------------------------------------


def populate(devices: int, people: int, *, first: int = 1) -> None:
    """Devices first..first+devices-1 in seven categories; `people` registered people."""
    categories = list(Category.select().order_by(Category.id)) or [
        Category.create(name=f"Категория {i}") for i in range(7)]
    rows = [{"number": i, "name": f"Эвотор {i}", "serial": f"ZN{i:08d}",
             "category": categories[i % 7].id,
             "search_text": search_text_for(f"Эвотор {i}", f"ZN{i:08d}")}
            for i in range(first, first + devices)]
    for start in range(0, len(rows), 2000):
        Device.insert_many(rows[start:start + 2000]).execute()
    if people:
        Person.insert_many([{"telegram_id": FIRST_USER + i, "email": f"s{i}@company.ru",
                             "name": "Иван Петров", "username": "ivan"}
                            for i in range(people)]).execute()


def device_id(number: int) -> int:
    """The id of the device with this sticker number."""
    return Device.get(Device.number == number).id


@contextmanager
def live_bot(url: str, api: FakeBotAPI, workers: int = 4):
    """devtrack polling the emulator, as in production (threaded, per-chat order)."""
    from bot import create_bot

    drop_connections(db.obj)
    previous = apihelper.CUSTOM_REQUEST_SENDER  # the echo bot keeps telebot's own
    use_curl_sender()  # as bot.run does
    try:
        bot = create_bot(Config(bot_token=TOKEN, database_url=url,
                                telegram_api_url=api.base_url, workers=workers,
                                registration="open"))
        bot._user = bot.get_me()  # as bot.main's token check does before polling
        with polling(bot):
            yield bot
        bot.shutdown()
    finally:
        apihelper.CUSTOM_REQUEST_SENDER = previous


@contextmanager
def polling(bot: TeleBot):
    """Run bot.infinity_polling in a thread until the block ends."""
    thread = threading.Thread(target=bot.infinity_polling, daemon=True,
                              kwargs={"timeout": 20, "long_polling_timeout": 5,
                                      "logger_level": logging.CRITICAL,
                                      "allowed_updates": ["message", "callback_query"]})
    thread.start()
    try:
        yield
    finally:
        bot.stop_polling()
        thread.join(timeout=10)


def emulator(delay: float = 0.0) -> FakeBotAPI:
    """A started emulator that does not check chats (the bench's people never said /start)."""
    return FakeBotAPI(strict=False, delay=delay).start()


class Replies:
    """Visible replies per chat, as they are recorded (no scan of the whole call log)."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.queues: dict[int, queue.Queue] = {}
        self.lock = threading.Lock()
        original = api._record

        def record(call: Any, status: int, answer: dict) -> None:
            original(call, status, answer)
            if call.method in VISIBLE and call.chat_id is not None:
                self.of(int(call.chat_id)).put(call)

        api._record = record

    def drain(self) -> None:
        """Forget replies nobody waited for."""
        with self.lock:
            for inbox in self.queues.values():
                while not inbox.empty():
                    inbox.get_nowait()

    def of(self, chat: int) -> queue.Queue:
        """The reply queue of a chat."""
        with self.lock:
            return self.queues.setdefault(chat, queue.Queue())


# --- round trips -----------------------------------------------------------------------------


def round_trips(backend: str, small: bool) -> list[Result]:
    """Visible reply and last call of each step, in round trips of the emulator's latency."""
    database, url = fresh_database(backend)
    populate(200, 2)
    holder, colleague = FIRST_USER, FIRST_USER + 1
    free, other = device_id(123), device_id(124)
    Loan.create(device=other, person=Person.get(Person.telegram_id == colleague),
                taken_at=utcnow(), due_date=date.today() + timedelta(days=7))
    database.close()
    rounds = 1 if small else 3
    samples: dict[str, list[tuple[float, float]]] = {}
    api = emulator(RT)
    try:
        with live_bot(url, api):
            for _ in range(rounds):
                for name, value in one_round(api, holder, colleague, free, other).items():
                    samples.setdefault(name, []).append(value)
    finally:
        api.stop()
    results = []
    for name, values in samples.items():
        visible = statistics.median(v[0] for v in values)
        last = statistics.median(v[1] for v in values)
        info = name in INFO_STEPS
        results.append(Result("roundtrip", backend, f"{name}: reply leaves", visible * RT * 1000,
                              max(v[0] for v in values) * RT * 1000, value=visible,
                              limit=None if info else VISIBLE_LIMIT, unit="RT"))
        results.append(Result("roundtrip", backend, f"{name}: last call done", last * RT * 1000,
                              max(v[1] for v in values) * RT * 1000, value=last,
                              limit=None if info else LAST_LIMIT, unit="RT"))
    return results


def one_round(api: FakeBotAPI, holder: int, colleague: int, free: int,
              other: int) -> dict[str, tuple[float, float]]:
    """Every measured step once, leaving the data as it found it."""
    out: dict[str, tuple[float, float]] = {}

    def step(name: str, push: Callable[[], object], chat: int) -> Any:
        mark = api.mark()
        started = time.time()
        push()
        reply = api.wait_for(lambda c: c.method in VISIBLE and c.chat_id == chat, since=mark,
                             timeout=10)
        time.sleep(RT * 1.5)  # anything still to come (a late spinner answer, a notice)
        calls = [c for c in api.calls()[mark:] if c.method != "getUpdates"]
        out[name] = ((reply.time - started) / RT, (max(c.finished for c in calls) - started) / RT)
        return reply

    def press(name: str, chat: int, data: str, on: Any) -> Any:
        message_id = on.result["message_id"] if on is not None and on.result else None
        return step(name, lambda: api.push_callback(chat, data, message_id), chat)

    def say(name: str, chat: int, text: str) -> Any:
        return step(name, lambda: api.push_message(chat, text), chat)

    card = say("search (serial)", holder, "ZN00000123")
    card = press("card", holder, f"card:{free}", card)
    listing = say("/all", holder, "/all")
    press("paging", holder, "all:2", listing)
    ask = press("take", holder, f"take:{free}", card)
    ask = press("take: skip place", holder, "tkp:skip", ask)
    taken = press("take: in a week", holder, "tkd:week", ask)
    ask = press("change due", holder, f"due:{free}", taken)
    changed = press("change due: in two weeks", holder, "cdd:2weeks", ask)
    ask = press("handover", holder, f"ho:{free}", changed)
    offered = say("handover: colleague", holder, "s1@company.ru")
    pending = [c for c in api.calls("sendMessage", chat_id=colleague) if c.ok]
    offer_data = next(b["callback_data"] for row in pending[-1].params["reply_markup"]
                      ["inline_keyboard"] for b in row if b["callback_data"].startswith("hoa"))
    offer_id = offer_data.split(":")[1]
    card = press("handover: cancel", holder, f"hoc:{offer_id}", offered)
    queued = press("queue: join", holder, f"qj:{other}", None)
    press("queue: leave", holder, f"ql:{other}", queued)
    ask = press("return", holder, f"ret:{free}", card)
    press("return: confirm", holder, f"reto:{free}", ask)
    return out


# --- throughput ------------------------------------------------------------------------------


def closed_loop(api: FakeBotAPI, replies: Replies, people: int, seconds: float,
                script: Callable[[int], list[Callable[[], object]]],
                positions: dict[int, int]) -> tuple[int, float, list]:
    """people threads, each pushing its script's updates one after another until time is up;
    (updates answered, elapsed seconds, latencies in ms). `positions` keeps where each person
    is in their script, so the next run goes on from there (a take is always finished)."""
    stop = threading.Event()
    latencies: list[float] = []
    lock = threading.Lock()
    counts = [0]
    timeouts = [0]

    def person(i: int) -> None:
        chat = FIRST_USER + i
        steps = script(i)
        inbox = replies.of(chat)
        mine: list[float] = []
        k = positions.get(i, 0)
        while not stop.is_set():
            started = time.perf_counter()
            steps[k % len(steps)]()
            try:
                inbox.get(timeout=3)
            except queue.Empty:
                timeouts[0] += 1
                logger.warning("no reply to step %d of person %d", k % len(steps), i)
                k += 1
                continue
            if not stop.is_set():
                mine.append((time.perf_counter() - started) * 1000)
            k += 1
        positions[i] = k
        with lock:
            latencies.extend(mine)
            counts[0] += len(mine)

    threads = [threading.Thread(target=person, args=(i,), daemon=True) for i in range(people)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join(timeout=15)
    time.sleep(0.5)  # replies still on their way must not answer the next run's updates
    replies.drain()
    if timeouts[0]:
        logger.warning("%d updates got no reply within 3 s", timeouts[0])
    return counts[0], elapsed, latencies


def devtrack_script(api: FakeBotAPI, numbers: list[int], ids: dict[int, int]
                    ) -> Callable[[int], list]:
    """Each person: search their device, open it, the list, paging, /mine; take and return."""

    def script(i: int) -> list[Callable[[], object]]:
        chat, number = FIRST_USER + i, numbers[i]
        dev = ids[number]

        def press(data: str) -> Callable[[], object]:
            return lambda: api.push_callback(chat, data)

        return [lambda: api.push_message(chat, f"ZN{number:08d}"), press(f"card:{dev}"),
                lambda: api.push_message(chat, "/all"), press("all:2"),
                lambda: api.push_message(chat, "/mine"), press(f"take:{dev}"),
                press("tkp:skip"), press("tkd:week"), press(f"reto:{dev}")]

    return script


def echo_bot() -> TeleBot:
    """The baseline: a bare telebot bot that answers every update with one message."""
    bot = TeleBot(TOKEN, threaded=True, num_threads=4)

    @bot.message_handler(func=lambda m: True)
    def echo(message: Any) -> None:
        bot.send_message(message.chat.id, message.text)

    @bot.callback_query_handler(func=lambda c: True)
    def echo_button(call: Any) -> None:
        bot.send_message(call.message.chat.id, call.data)

    return bot


def load_driver(pipe: Any, people: int, seconds: float, numbers: list[int],
                ids: dict[int, int]) -> None:
    """The emulator and the people, in their own process (Telegram is not in the bot's).

    Sends the emulator's address, then for every ("go", bot): a warm-up and a measured closed
    loop, answering (updates answered, seconds, latencies); "stop" ends it.
    """
    api = emulator()
    replies = Replies(api)
    script = devtrack_script(api, numbers, ids)
    pipe.send(api.base_url)
    # Each bot's people go on where they stopped in its previous round (a take is finished).
    positions: dict[str, dict[int, int]] = {}
    try:
        while (order := pipe.recv()) != "stop":
            mine = positions.setdefault(order[1], {})
            closed_loop(api, replies, people, seconds / 4, script, mine)  # warm-up
            pipe.send(closed_loop(api, replies, people, seconds, script, mine))
    finally:
        api.stop()


def throughput(backend: str, small: bool) -> list[Result]:
    """devtrack against the echo bot, people in a closed loop, same emulator, same run."""
    import multiprocessing

    from bot import configure_api_url

    # Rounds alternate the echo bot and devtrack, so a machine that slows down or speeds up
    # during the run (a shared VM does) weighs on both sides alike.
    devices, people, seconds, rounds = (500, 10, 2.0, 1) if small else (10_000, 50, 3.0, 3)
    database, url = fresh_database(backend)
    populate(devices, people)
    numbers = [devices // 2 + 1 + i for i in range(people)]  # free devices, one per person
    ids = {n: device_id(n) for n in numbers}
    settle(database)
    database.close()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    driver = context.Process(target=load_driver, args=(theirs, people, seconds, numbers, ids),
                             daemon=True)
    driver.start()
    echo_done, echo_time, done, elapsed, latencies = 0, 0.0, 0, 0.0, []
    try:
        base_url = ours.recv()
        configure_api_url(base_url)
        fake = type("Emulator", (), {"base_url": base_url})()
        for _ in range(rounds):
            with polling(echo_bot()):  # a fresh one: a stopped TeleBot's worker pool is gone
                ours.send(("go", "echo"))
                answered, took, _ = ours.recv()
                echo_done, echo_time = echo_done + answered, echo_time + took
            with live_bot(url, fake, workers=4):
                ours.send(("go", "devtrack"))
                answered, took, waited = ours.recv()
                done, elapsed, latencies = done + answered, elapsed + took, latencies + waited
        ours.send("stop")
    finally:
        driver.join(timeout=20)
        if driver.is_alive():
            driver.terminate()
    echo_rate, rate = echo_done / echo_time, done / elapsed
    latencies.sort()
    median = statistics.median(latencies) if latencies else 0.0
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0
    echo_note = f"{echo_rate:.0f} updates/s"
    return [
        Result("load", backend, "echo bot (baseline)", 1000 * people / max(echo_rate, 1e-9),
               1000 * people / max(echo_rate, 1e-9), note=echo_note),
        Result("load", backend, f"devtrack / echo ({people} people)", median, p95,
               value=rate / max(echo_rate, 1e-9), limit=THROUGHPUT_LIMIT, unit="×",
               at_least=True, note=f"{rate:.0f} updates/s against {echo_note}"),
        Result("load", backend, "devtrack p95 / median", median, p95,
               value=p95 / median if median else 0.0, limit=FAIRNESS, unit="×"),
    ]


# --- scaling ---------------------------------------------------------------------------------


def inventory(backend: str, devices: int, url: str | None = None) -> tuple[pw.Database, str]:
    """A fresh database of `devices` devices, one person holding five of them, bound."""
    database, url = fresh_database(backend, url)
    populate(devices, 1)
    person = Person.get(Person.telegram_id == FIRST_USER)
    for number in range(1, 6):
        Loan.create(device=device_id(number), person=person, taken_at=utcnow())
    settle(database)
    return database, url


def scaling(backend: str, small: bool) -> list[Result]:
    """Per-update time and statements at a small and a large inventory.

    Both inventories stay open and the measurements alternate between them call by call: one
    inventory measured after the other compared two moments of a VM whose speed drifts (the
    same code measured 0.71 and 1.27 in consecutive runs).
    """
    from telebot import types

    from bench.handlers import NullSender
    from bot import create_bot

    sizes = (100, 2_000) if small else (1_000, 100_000)
    repeat = 6 if small else 60
    base = os.environ.get("BENCH_DATABASE_URL", "") if backend == "postgres" else ""
    databases: list[pw.Database] = []
    previous = apihelper.CUSTOM_REQUEST_SENDER
    apihelper.CUSTOM_REQUEST_SENDER = NullSender()
    statements: dict[str, list[int]] = {}
    try:
        # The small inventory lives next to BENCH_DATABASE_URL, in `<database>_small`.
        databases.append(inventory(backend, sizes[0], base and create_sibling(base, "small"))[0])
        database, url = inventory(backend, sizes[1])
        databases.append(database)
        bot = create_bot(Config(bot_token=TOKEN, database_url=url), threaded=False)
        ids = iter(range(1, 10**9))
        message, press = update_builders(FIRST_USER, first_name="Иван", last_name="Петров",
                                         username="ivan")

        def feed(update: dict) -> None:
            bot.process_new_updates([types.Update.de_json({"update_id": next(ids), **update})])

        # The same device (a third of the small inventory) in both: ids follow the numbers.
        target = device_id(sizes[0] // 3)
        cases = {
            "search (serial)": lambda: feed(message(f"ZN{sizes[0] // 3:08d}")),
            "card": lambda: feed(press(f"card:{target}")),
            "/all": lambda: feed(message("/all")),
            "/mine": lambda: feed(message("/mine")),
        }
        for database in databases:
            db.initialize(database)
            feed(message("/help"))
            # Each size counts its search trigrams afresh (one statement more, in this pass).
            search_plan.COUNTS.forget()
            with StatementCounter() as counter:
                drop_connections(database)
                feed(message("/help"))
                for name, fn in cases.items():
                    counter.reset()
                    fn()
                    statements.setdefault(name, []).append(counter.count)
        samples: dict[str, list[list[float]]] = {name: [[], []] for name in cases}  # small, large
        for rep in range(repeat):
            # Call by call, each inventory goes first as often as the other.
            for name, fn in cases.items():
                for index in (0, 1) if rep % 2 == 0 else (1, 0):
                    db.initialize(databases[index])
                    samples[name][index] += timings(fn, 1)
    finally:
        apihelper.CUSTOM_REQUEST_SENDER = previous
        for database in databases:
            drop_connections(database)  # the pool's idle ones too: the sibling is dropped next
        if base:
            drop_sibling(base, "small")
    results = []
    label = f"{sizes[1] // 1000}k/{sizes[0] // 1000 or sizes[0]}" + ("k" if sizes[0] >= 1000
                                                                       else "")
    for name, (low_samples, high_samples) in samples.items():
        low, high = summary(low_samples)[0], summary(high_samples)[0]
        results.append(Result("scaling", backend, f"{name} {label}", high, high,
                              value=high / low if low else 0.0, limit=SCALING_LIMIT, unit="×",
                              note=f"{low:.2f} ms at {sizes[0]:,} devices"))
    for name, (low, high) in statements.items():
        results.append(Result("scaling", backend, f"{name}: statements", high, high,
                              value=float(max(low, high)), limit=float(READ_STATEMENTS),
                              unit="", equal=low == high,
                              note=f"{low} at {sizes[0]:,}, {high} at {sizes[1]:,} devices"))
    return results


def run(backend: str, small: bool) -> list[Result]:
    """Round trips, load and scaling on one backend."""
    return round_trips(backend, small) + throughput(backend, small) + scaling(backend, small)
