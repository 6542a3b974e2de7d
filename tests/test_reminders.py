"""Daily reminders: wording by case, weekdays, idempotency, parallel runs, faults, digest, CLI."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import threading
import time
from dataclasses import replace
from datetime import date, datetime, timedelta

import peewee as pw
import pytest
from conftest import ADMIN_ID, USER_ID

import jobs.reminders as job
from handlers import texts
from handlers.reminders import extended_due
from inventory import reminders
from models import AuditLog, Loan, Person, db
from notices import Delivery
from notices.reminders import (
    DEVICES_PER_MESSAGE,
    MESSAGE_LIMIT,
    digest_messages,
    reminder_messages,
    utf16_len,
)
from outbox.notifier import Notifier

OTHER_ID = 200
THIRD_ID = 300
THU = date(2026, 11, 26)  # the conftest clock's day (T0), a Thursday
FRI, SAT, SUN, MON = (THU + timedelta(days=n) for n in (1, 2, 3, 4))
MON_FRI = frozenset(range(5))


@pytest.fixture
def slept() -> list[float]:
    """Sleeps the notifier asked for (recorded, never slept)."""
    return []


@pytest.fixture
def notifier(harness, slept) -> Notifier:
    """The real notifier on the recording Bot API, with a no-op sleep."""
    return Notifier(harness.bot, sleep=slept.append)


@pytest.fixture
def remind(harness, notifier, clock):
    """Run the job for a day (default: the clock's day) with the test configuration."""

    def go(today: date = THU, **kwargs) -> job.Report:
        return job.run(today, kwargs.pop("sender", notifier), harness.bot.config, clock.now,
                       **kwargs)

    return go


@pytest.fixture
def user(seed):
    """A registered person with the default test Telegram id."""
    return seed.person(USER_ID, name="Иван Петров", username="ivan")


def expected(*sections: tuple[list[str], list[tuple[int, str]]]) -> str:
    """A reminder text built from the templates: sections of (headers, [(number, name)])."""
    parts = ["\n".join([*headers, *(texts.REMIND_LINE.format(number=n, name=texts.e(name))
                                    for n, name in devices)]) for headers, devices in sections]
    return "\n\n".join(["\n\n".join(parts), texts.REMIND_FOOTER])


def only_message(sender, chat_id: int):
    """The single sendMessage to chat_id."""
    calls = sender.of("sendMessage", chat_id)
    assert len(calls) == 1, [c.text for c in calls]
    return calls[0]


# --- wording by case -------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "header"), [
    (1, texts.REMIND_TOMORROW.format(date="27.11.2026")),
    (0, texts.REMIND_TODAY.format(date="26.11.2026")),
    (-1, texts.REMIND_OVERDUE.format(days="1 день", date="25.11.2026")),
    (-2, texts.REMIND_OVERDUE.format(days="2 дня", date="24.11.2026")),
    (-5, texts.REMIND_OVERDUE.format(days="5 дней", date="21.11.2026")),
    (-21, texts.REMIND_OVERDUE.format(days="21 день", date="05.11.2026")),
])
def test_wording_by_case(remind, seed, user, sender, offset, header):
    device = seed.device(49, "Эвотор 7.2")
    due = THU + timedelta(days=offset)
    seed.loan(device, user, due=due)
    report = remind()
    call = only_message(sender, USER_ID)
    assert call.text == expected(([header], [(49, "Эвотор 7.2")]))
    assert header.startswith(("Завтра пора вернуть", "Сегодня пора вернуть", "Просрочено на"))
    assert call.button(texts.BTN_RETURN)["callback_data"] == f"ret:{device.id}:new"
    assert call.button(texts.BTN_EXTEND)["callback_data"] == \
        f"ext:{device.id}:{due.strftime('%Y%m%d')}"
    assert (report.sent, report.skipped, report.unreachable, report.failed) == (1, 0, 0, 0)
    assert Loan.get().reminded_on == THU


def test_plurals_of_days():
    assert [texts.days(n) for n in (1, 2, 5, 11, 21, 22, 25, 111)] == [
        "1 день", "2 дня", "5 дней", "11 дней", "21 день", "22 дня", "25 дней", "111 дней"]


def test_loans_due_later_or_without_date_are_not_reminded(remind, seed, user, sender):
    seed.loan(seed.device(1), user)  # no due date
    seed.loan(seed.device(2), user, due=SAT)  # Thursday: Friday is a working day, so not yet
    seed.loan(seed.device(3), user, due=THU + timedelta(days=10))
    report = remind()
    assert sender.of("sendMessage") == []
    assert report.sent == 0
    assert Loan.select().where(Loan.reminded_on.is_null(False)).count() == 0


def test_returned_loans_and_people_without_telegram(remind, seed, user, sender, clock):
    from inventory import loans

    device = seed.device(1)
    seed.loan(device, user, due=THU)
    loans.return_device(device.id, user, now=clock.now)
    imported = seed.person(None, email="imported@company.ru")
    seed.loan(seed.device(2), imported, due=THU)
    report = remind()
    # No reminder can reach the imported person; only the admin digest names them.
    assert [int(c.params["chat_id"]) for c in sender.of("sendMessage")] == [ADMIN_ID]
    assert "imported@company.ru" in sender.last(ADMIN_ID).text
    assert (report.sent, report.skipped) == (0, 1)


def test_several_devices_in_one_message(remind, seed, user, sender):
    overdue = seed.device(3, "Атол 30Ф")
    today = seed.device(1, "Эвотор 7.2")
    tomorrow = seed.device(2, "Сканер")
    seed.loan(tomorrow, user, due=FRI)
    seed.loan(overdue, user, due=THU - timedelta(days=3))
    seed.loan(today, user, due=THU)
    seed.loan(seed.device(4, "Весы"), user)  # no due date: not listed
    remind()
    call = only_message(sender, USER_ID)
    assert call.text == expected(
        ([texts.REMIND_OVERDUE.format(days="3 дня", date="23.11.2026")], [(3, "Атол 30Ф")]),
        ([texts.REMIND_TODAY.format(date="26.11.2026")], [(1, "Эвотор 7.2")]),
        ([texts.REMIND_TOMORROW.format(date="27.11.2026")], [(2, "Сканер")]),
    )
    numbered = lambda n, label: texts.BTN_NUMBERED.format(number=n, label=label)  # noqa: E731
    labels = [[b["text"] for b in row] for row in call.markup["inline_keyboard"]]
    assert labels == [[numbered(n, texts.BTN_RETURN), numbered(n, texts.BTN_EXTEND)]
                      for n in (3, 1, 2)]


def test_html_in_device_names_is_escaped(remind, seed, user, sender):
    seed.loan(seed.device(5, "<b>Касса & Co</b>"), user, due=THU)
    remind()
    assert "&lt;b&gt;Касса &amp; Co&lt;/b&gt;" in only_message(sender, USER_ID).text


# --- weekdays --------------------------------------------------------------------------------


def test_weekend_due_dates_are_announced_on_friday(remind, seed, user, sender):
    seed.loan(seed.device(1, "Суббота"), user, due=SAT)
    seed.loan(seed.device(2, "Воскресенье"), user, due=SUN)
    seed.loan(seed.device(3, "Понедельник"), user, due=MON)
    remind(THU)
    assert sender.of("sendMessage") == []  # Thursday: none of them yet
    remind(FRI)
    call = only_message(sender, USER_ID)
    assert call.text == expected(
        ([texts.REMIND_TOMORROW.format(date="28.11.2026"), texts.REMIND_DAY_OFF],
         [(1, "Суббота")]),
        ([texts.REMIND_ON_DAY.format(weekday="В воскресенье", date="29.11.2026"),
          texts.REMIND_DAY_OFF], [(2, "Воскресенье")]),
    )
    # Saturday and Sunday: no reminders at all.
    for day in (SAT, SUN):
        report = remind(day)
        assert not report.working_day and report.sent == 0
    assert len(sender.of("sendMessage")) == 1
    remind(MON)
    monday = sender.of("sendMessage", USER_ID)[-1]
    assert monday.text == expected(
        ([texts.REMIND_OVERDUE.format(days="2 дня", date="28.11.2026")], [(1, "Суббота")]),
        ([texts.REMIND_OVERDUE.format(days="1 день", date="29.11.2026")], [(2, "Воскресенье")]),
        ([texts.REMIND_TODAY.format(date="30.11.2026")], [(3, "Понедельник")]),
    )


def test_custom_weekdays_announce_friday_on_thursday(make_harness, seed, user, sender, clock):
    harness = make_harness(reminder_weekdays=frozenset({0, 1, 2, 3}))  # Monday to Thursday
    seed.loan(seed.device(1, "Пятница"), user, due=FRI)
    report = job.run(THU, Notifier(harness.bot, sleep=lambda s: None), harness.bot.config,
                     clock.now)
    assert report.sent == 1
    assert only_message(sender, USER_ID).text == expected(
        ([texts.REMIND_TOMORROW.format(date="27.11.2026"), texts.REMIND_DAY_OFF],
         [(1, "Пятница")]))
    assert not job.run(FRI, Notifier(harness.bot), harness.bot.config, clock.now).working_day


@pytest.mark.parametrize(("weekdays", "today", "until"), [
    (MON_FRI, THU, FRI), (MON_FRI, FRI, SUN), (MON_FRI, MON, MON + timedelta(days=1)),
    (frozenset({0, 1, 2, 3}), THU, SUN), (frozenset(range(7)), SAT, SUN),
    (frozenset({0}), MON, MON + timedelta(days=6)),
])
def test_announce_until(weekdays, today, until):
    assert reminders.announce_until(today, weekdays) == until


# --- idempotency and parallel runs -----------------------------------------------------------


def test_second_run_the_same_day_sends_nothing_new(remind, seed, user, sender):
    seed.loan(seed.device(1), user, due=THU - timedelta(days=2))
    first = remind()
    second = remind()
    assert (first.sent, second.sent, second.skipped) == (1, 0, 1)
    assert len(sender.of("sendMessage", USER_ID)) == 1
    assert len(sender.of("sendMessage", ADMIN_ID)) == 1  # the digest, once
    # The next working day the overdue device is reminded again.
    assert remind(FRI).sent == 1
    assert len(sender.of("sendMessage", USER_ID)) == 2


def test_a_run_for_a_future_date_does_not_block_today(remind, seed, user, sender):
    seed.loan(seed.device(1), user, due=THU)
    remind(THU + timedelta(days=7))  # e.g. someone tried --today without --dry-run
    assert remind(THU).sent == 1


def test_claim_happens_before_the_send(remind, seed, user, notifier):
    seed.loan(seed.device(1), user, due=THU)
    seen: list[date | None] = []

    class Checking:
        def send(self, person, text, markup=None):
            seen.append(Loan.get().reminded_on)
            return notifier.send(person, text, markup)

        def send_chat(self, chat_id, text, markup=None):
            return notifier.send_chat(chat_id, text, markup)

    remind(sender=Checking())
    assert seen == [THU]


def test_a_new_loan_later_the_same_day_is_reminded_once(remind, seed, user, sender):
    seed.loan(seed.device(1, "Первое"), user, due=THU)
    remind()
    seed.loan(seed.device(2, "Второе"), user, due=THU)
    remind()
    remind()
    texts_sent = sender.texts(USER_ID)
    assert len(texts_sent) == 2
    assert "Второе" in texts_sent[1] and "Первое" not in texts_sent[1]


@pytest.mark.parametrize("runs", [2, 4])
def test_parallel_runs_send_each_reminder_once(make_harness, backend, seed, sender, clock, runs):
    harness = make_harness(reminder_rate=2)  # claim two people at a time: the runs interleave
    people = [seed.person(1000 + i, name=f"Сотрудник {i}") for i in range(12)]
    for i, person in enumerate(people):
        seed.loan(seed.device(i + 1), person, due=THU - timedelta(days=i % 3))
    db.close()
    barrier = threading.Barrier(runs)
    reports: list[job.Report] = []
    errors: list[BaseException] = []

    class Slow:
        """The real notifier, a little slower, so that the runs interleave."""

        def __init__(self) -> None:
            self.inner = Notifier(harness.bot, sleep=lambda s: None)

        def send(self, person, text, markup=None):
            time.sleep(0.002)
            return self.inner.send(person, text, markup)

        def send_chat(self, chat_id, text, markup=None):
            time.sleep(0.002)
            return self.inner.send_chat(chat_id, text, markup)

    def one_run() -> None:
        try:
            db.connect(reuse_if_open=True)
            barrier.wait()
            reports.append(job.run(THU, Slow(), harness.bot.config, clock.now))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=one_run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    db.connect(reuse_if_open=True)
    for person in people:
        assert len(sender.of("sendMessage", person.telegram_id)) == 1, person.name
    assert sum(r.sent for r in reports) == len(people)
    assert sum(r.skipped for r in reports) == len(people) * (runs - 1)
    assert len(sender.of("sendMessage", ADMIN_ID)) == 1
    assert sum(r.digest.sent for r in reports) == 1
    assert AuditLog.select().where(AuditLog.action == reminders.DIGEST_ACTION).count() == 1


# --- faults ----------------------------------------------------------------------------------


@pytest.fixture
def three(seed):
    """Three people, each with one device due today, in Person.id order."""
    people = []
    for n, telegram_id in enumerate((USER_ID, OTHER_ID, THIRD_ID), start=1):
        person = seed.person(telegram_id, name=f"Сотрудник {n}")
        seed.loan(seed.device(n, f"Устройство {n}"), person, due=THU)
        people.append(person)
    return people


def test_429_waits_retry_after_and_delivers(remind, three, sender, slept):
    sender.fail("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)
    report = remind()
    assert slept == [5.0]
    assert (report.sent, report.failed) == (3, 0)
    # The first person's message was answered 429, then sent again; the others once each.
    assert [len(sender.of("sendMessage", p.telegram_id)) for p in three] == [2, 1, 1]


def test_403_marks_unreachable_and_the_run_goes_on(remind, three, sender):
    sender.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    report = remind()
    assert (report.sent, report.unreachable, report.failed) == (2, 1, 0)
    assert Person.get_by_id(three[0].id).reachable is False
    assert [len(sender.texts(p.telegram_id)) for p in three] == [1, 1, 1]
    # The claim is kept: a rerun does not knock again today.
    assert remind().sent == 0
    # The admin digest names the person who blocked the bot.
    digest = sender.texts(ADMIN_ID)[-1]
    assert texts.DIGEST_UNREACHABLE_LINE.format(
        person="Сотрудник 1", email=three[0].email, devices=texts.devices_count(1)) in digest


def test_5xx_in_the_middle_fails_one_person_only(remind, three, sender, notifier, slept):
    class FailSecond:
        """Makes Telegram answer 502 to every attempt for the second person."""

        def send(self, person, text, markup=None):
            if person.telegram_id == OTHER_ID:
                sender.fail("sendMessage", 502, "Bad Gateway", times=notifier.retries + 1)
            return notifier.send(person, text, markup)

        def send_chat(self, chat_id, text, markup=None):
            return notifier.send_chat(chat_id, text, markup)

    report = remind(sender=FailSecond())
    assert (report.sent, report.failed) == (2, 1)
    assert slept == [0.5, 1.0, 2.0]  # backoff between the retries
    assert [len(sender.of("sendMessage", p.telegram_id)) for p in three] == [
        1, notifier.retries + 1, 1]
    # The failed claim was released: the next run retries exactly that person.
    assert Loan.get(Loan.person == three[1]).reminded_on is None
    sender.clear()
    again = remind()
    assert again.sent == 1
    assert [int(c.params["chat_id"]) for c in sender.of("sendMessage")] == [OTHER_ID]


def test_an_exception_for_one_person_releases_and_goes_on(remind, three, notifier, sender):
    class Broken:
        def send(self, person, text, markup=None):
            if person.telegram_id == USER_ID:
                raise RuntimeError("boom")
            return notifier.send(person, text, markup)

        def send_chat(self, chat_id, text, markup=None):
            return notifier.send_chat(chat_id, text, markup)

    report = remind(sender=Broken())
    assert (report.sent, report.failed) == (2, 1)
    assert Loan.get(Loan.person == three[0]).reminded_on is None


# --- admin digest ----------------------------------------------------------------------------


def test_admin_digest(make_harness, seed, sender, clock):
    harness = make_harness(admin_ids=frozenset({ADMIN_ID, 902}))
    seed.person(ADMIN_ID, name="Админ")  # 902 never registered: no Person row
    ivan = seed.person(USER_ID, name="Иван Петров", username="ivan")
    olga = seed.person(OTHER_ID, name="Ольга Смирнова")
    gone = seed.person(THIRD_ID, name="Пётр Сидоров")
    seed.loan(seed.device(10, "Атол"), ivan, due=THU - timedelta(days=2))
    seed.loan(seed.device(11, "Весы"), olga, due=THU - timedelta(days=21))
    seed.loan(seed.device(12, "Сканер"), ivan, due=THU - timedelta(days=5))
    seed.loan(seed.device(13, "Планшет"), ivan, due=THU)  # due today: not overdue
    seed.loan(seed.device(14, "Принтер"), gone)
    seed.loan(seed.device(15, "Принтер 2"), gone)
    Person.update(reachable=False).where(Person.id == gone.id).execute()
    imported = seed.person(None, "newbie@company.ru", name="Новичок")  # known only by email
    seed.loan(seed.device(16, "Касса"), imported, due=THU + timedelta(days=1))
    notifier = Notifier(harness.bot, sleep=lambda s: None)
    report = job.run(THU, notifier, harness.bot.config, clock.now)
    digest = "\n".join([
        texts.DIGEST_TITLE.format(count=3, date="26.11.2026"),
        texts.DIGEST_LINE.format(number=11, name="Весы", holder="Ольга Смирнова",
                                 days="21 день"),
        texts.DIGEST_LINE.format(number=12, name="Сканер", holder="Иван Петров (@ivan)",
                                 days="5 дней"),
        texts.DIGEST_LINE.format(number=10, name="Атол", holder="Иван Петров (@ivan)",
                                 days="2 дня"),
        "",
        texts.DIGEST_UNREACHABLE_TITLE.format(count=2),
        texts.DIGEST_UNREACHABLE_LINE.format(person="Новичок", email=imported.email,
                                             devices="1 устройство")
        + texts.DIGEST_NOT_REGISTERED,
        texts.DIGEST_UNREACHABLE_LINE.format(person="Пётр Сидоров", email=gone.email,
                                             devices="2 устройства"),
    ])
    assert sender.texts(ADMIN_ID) == [digest]
    assert sender.texts(902) == [digest]
    assert report.digest.sent == 2
    # The digest comes after the personal reminders.
    order = [int(c.params["chat_id"]) for c in sender.of("sendMessage")]
    assert order.index(ADMIN_ID) > order.index(USER_ID)
    entries = AuditLog.select().where(AuditLog.action == reminders.DIGEST_ACTION)
    assert sorted(json.loads(e.details)["chat_id"] for e in entries) == [ADMIN_ID, 902]
    # Idempotent.
    again = job.run(THU, notifier, harness.bot.config, clock.now)
    assert again.digest.skipped == 2 and len(sender.texts(ADMIN_ID)) == 1


def test_no_digest_when_nothing_is_overdue(remind, seed, user, sender):
    seed.person(ADMIN_ID, name="Админ")
    seed.loan(seed.device(1), user, due=THU)
    report = remind()
    assert sender.texts(ADMIN_ID) == []
    assert report.digest.sent == 0


def test_failed_digest_is_released_for_the_next_run(remind, seed, user, sender, notifier):
    seed.loan(seed.device(1), user, due=THU - timedelta(days=1))

    class AdminDown:
        def send(self, person, text, markup=None):
            return notifier.send(person, text, markup)

        def send_chat(self, chat_id, text, markup=None):
            return Delivery.FAILED

    assert remind(sender=AdminDown()).digest.failed == 1
    assert AuditLog.select().where(AuditLog.action == reminders.DIGEST_RELEASED).count() == 1
    report = remind()
    assert report.digest.sent == 1 and len(sender.texts(ADMIN_ID)) == 1


def test_digest_is_split_when_long(seed, clock, conn):
    person = seed.person(USER_ID, name="Иван Петров")
    for n in range(1, 151):
        seed.loan(seed.device(n, "Очень длинное название устройства " * 4), person,
                  due=THU - timedelta(days=n))
    parts = digest_messages(reminders.overdue_loans(THU), [], THU)
    assert len(parts) > 1
    assert all(utf16_len(p) <= MESSAGE_LIMIT for p in parts)
    assert sum(p.count("• ") for p in parts) == 150
    assert parts[1].startswith(texts.REMIND_PART.format(part=2, parts=len(parts)))


# --- long messages ---------------------------------------------------------------------------


def test_many_devices_are_split_within_telegram_limits(remind, seed, user, sender):
    name = "Фискальный регистратор «Штрих-М» 🧾 " * 5
    for n in range(1, 101):
        seed.loan(seed.device(n, name), user, due=THU - timedelta(days=n % 4))
    report = remind()
    calls = sender.of("sendMessage", USER_ID)
    assert report.sent == 1 and len(calls) > 1
    seen = []
    for index, call in enumerate(calls, start=1):
        assert utf16_len(call.text) <= MESSAGE_LIMIT
        assert len(call.buttons) <= 2 * DEVICES_PER_MESSAGE <= 100
        assert call.text.startswith(texts.REMIND_PART.format(part=index, parts=len(calls)))
        seen += [b["callback_data"] for b in call.buttons if b["callback_data"].startswith("ret:")]
    assert len(seen) == len(set(seen)) == 100
    assert calls[-1].text.endswith(texts.REMIND_FOOTER)
    # Each part says which case its devices are in, even when a section continues.
    assert all(texts.REMIND_OVERDUE[:10] in c.text or texts.REMIND_TODAY[:10] in c.text
               for c in calls)


# --- bounded queries -------------------------------------------------------------------------


@contextlib.contextmanager
def counting(database: pw.Database):
    """Count the SQL statements executed on the database."""
    statements: list[str] = []
    original = database.execute_sql

    def execute_sql(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return original(sql, params, *args, **kwargs)

    database.execute_sql = execute_sql
    try:
        yield statements
    finally:
        del database.execute_sql


def populate(seed, people: int, per_person: int, start: int) -> None:
    """People each holding per_person devices due between 3 days ago and tomorrow."""
    for i in range(people):
        person = seed.person(start + i, name=f"Сотрудник {start + i}")
        for k in range(per_person):
            number = (start + i) * 10 + k
            seed.loan(seed.device(number), person, due=THU + timedelta(days=1 - (k % 5)))


def select_and_render(today: date) -> int:
    """Everything the run reads and renders before sending; the number of messages."""
    until = reminders.announce_until(today, MON_FRI)
    messages = [reminder_messages(held, today, MON_FRI)
                for _, held in reminders.by_person(reminders.due_loans(until))]
    digest_messages(reminders.overdue_loans(today), reminders.unreachable_holders(), today)
    return len(messages)


def test_selecting_and_rendering_takes_constant_queries(seed, conn):
    populate(seed, people=3, per_person=2, start=100)
    with counting(conn) as small:
        assert select_and_render(THU) == 3
    populate(seed, people=30, per_person=5, start=200)
    with counting(conn) as large:
        assert select_and_render(THU) == 33
    assert len(small) == len(large) == 3


def test_a_whole_run_claims_a_batch_of_people_per_statement(make_harness, seed, conn, clock):
    config = make_harness(reminder_rate=5).bot.config  # claims 5 people (1 s of sends) ahead
    assert job.claim_batch(config) == 5

    def measured(dry_run: bool) -> tuple[int, int]:
        """(statements, of which UPDATEs) of one run, then forget that it happened."""
        with counting(conn) as statements:
            report = job.run(THU, job.PrintingSender(io.StringIO()), config, clock.now,
                             dry_run=dry_run)
        assert report.failed == 0
        Loan.update(reminded_on=None).execute()
        AuditLog.delete().where(AuditLog.action.startswith("reminders")).execute()
        return len(statements), sum(s.lstrip().upper().startswith("UPDATE") for s in statements)

    populate(seed, people=3, per_person=3, start=100)
    small_dry, small_real = measured(True), measured(False)
    populate(seed, people=20, per_person=4, start=200)
    large_dry, large_real = measured(True), measured(False)
    assert small_dry == large_dry and small_dry[1] == 0  # a dry run only reads, constantly
    # A real run: one conditional UPDATE per 5 people (never per loan), the rest constant.
    assert (small_real[1], large_real[1]) == (1, 5)
    assert small_real[0] - 1 == large_real[0] - 5


# --- the buttons, days later -----------------------------------------------------------------


def test_buttons_work_days_later(harness, remind, seed, user, sender, clock):
    extend_me = seed.device(1, "Эвотор 7.2")
    return_me = seed.device(2, "Атол 30Ф")
    seed.loan(extend_me, user, due=THU)
    seed.loan(return_me, user, due=THU)
    remind()
    reminder = only_message(sender, USER_ID)
    extend = reminder.button(texts.BTN_NUMBERED.format(number=1, label=texts.BTN_EXTEND))
    give_back = reminder.button(texts.BTN_NUMBERED.format(number=2, label=texts.BTN_RETURN))
    clock.advance(days=3)  # Sunday 29.11
    sent = harness.press(USER_ID, extend["callback_data"])
    assert sent.last(USER_ID).text.startswith(texts.EXTENDED.format(
        number=1, name="Эвотор 7.2", date="06.12.2026"))
    assert Loan.get(Loan.device == extend_me).due_date == date(2026, 12, 6)
    assert AuditLog.select().where(AuditLog.action == "loan.changed").count() == 1
    # Pressed again: nothing more is extended.
    harness.press(USER_ID, extend["callback_data"])
    assert sender.alerts()[-1] == texts.EXTEND_STALE.format(
        due=texts.MINE_DUE.format(date="06.12.2026"))
    assert Loan.get(Loan.device == extend_me).due_date == date(2026, 12, 6)
    # «Вернуть» is the normal confirm flow, asked in a new message: the reminder keeps its
    # other buttons.
    ask = harness.press(USER_ID, give_back["callback_data"]).last(USER_ID)
    assert ask.text == texts.ASK_RETURN.format(number=2, name="Атол 30Ф")
    assert ask.method == "sendMessage"
    done = harness.press(USER_ID, ask.button(texts.BTN_YES_RETURNED)["callback_data"])
    assert done.last(USER_ID).text.startswith(texts.RETURNED.format(number=2, name="Атол 30Ф"))
    assert Loan.get(Loan.device == return_me).returned_at == clock.now
    # After the return, the reminder's buttons for that device only alert.
    harness.press(USER_ID, give_back["callback_data"])
    assert sender.alerts()[-1] == texts.ALREADY_RETURNED
    harness.press(USER_ID, reminder.button(
        texts.BTN_NUMBERED.format(number=2, label=texts.BTN_EXTEND))["callback_data"])
    assert sender.alerts()[-1] == texts.ALREADY_RETURNED


def test_extend_before_the_due_date_adds_a_week_to_it(harness, seed, user, sender):
    device = seed.device(1)
    seed.loan(device, user, due=FRI)
    harness.press(USER_ID, f"ext:{device.id}:{FRI:%Y%m%d}")
    assert Loan.get().due_date == FRI + timedelta(days=7)


def test_only_the_holder_may_extend(harness, seed, user, sender):
    olga = seed.person(OTHER_ID, name="Ольга")
    device = seed.device(1)
    seed.loan(device, olga, due=THU)
    harness.press(USER_ID, f"ext:{device.id}:{THU:%Y%m%d}")
    assert sender.alerts()[-1] == texts.NOT_HOLDER
    assert Loan.get().due_date == THU


@pytest.mark.parametrize("data", ["ext:1", "ext:x:20261126", "ext:1:2026-11-26",
                                  "ext:999:20261126"])
def test_forged_extend_buttons_alert(harness, seed, user, sender, data):
    seed.loan(seed.device(1), user, due=THU)
    harness.press(USER_ID, data)
    assert sender.alerts()[-1] in (texts.STALE_BUTTON, texts.DEVICE_GONE)
    assert Loan.get().due_date == THU


def test_extended_due():
    assert extended_due(THU - timedelta(days=10), THU) == THU + timedelta(days=7)
    assert extended_due(FRI, THU) == FRI + timedelta(days=7)


# --- queue holds -----------------------------------------------------------------------------


def queue_with_expired_hold(seed, clock):
    """A freed device held for B since 25 hours ago, with C next in line."""
    from inventory import loans, queue

    a, b, c = seed.person(501), seed.person(502), seed.person(503)
    device = seed.device(77, "Атол 91Ф")
    seed.loan(device, a)
    queue.join(device.id, b, clock.now)
    queue.join(device.id, c, clock.now)
    loans.return_device(device.id, a, now=clock.now)
    assert queue.start_hold(device.id, clock.now, 24).person.id == b.id
    clock.advance(hours=25)
    return device, b, c


def test_queue_holds_are_passed_on_and_announced_every_day(remind, seed, clock, sender):
    from models import QueueEntry

    device, b, c = queue_with_expired_hold(seed, clock)
    assert remind(SAT, dry_run=True).holds is None  # a dry run changes nothing
    assert QueueEntry.get(QueueEntry.person == b).hold_until is not None
    assert remind(SAT).holds == 1  # also on a day without reminders
    entry = QueueEntry.get(QueueEntry.device == device)
    assert entry.person_id == c.id and entry.hold_until > clock.now
    offer = sender.last(c.telegram_id)
    assert offer.text.startswith("🟡 <b>№77 Атол 91Ф</b>")
    lapse = sender.last(b.telegram_id)
    assert lapse.text == texts.HOLD_LAPSED.format(number=77, name="Атол 91Ф",
                                                  until="27.11.2026 12:00")
    assert lapse.button("Атол 91Ф")["callback_data"] == f"card:{device.id}"
    assert offer.button(texts.BTN_TAKE)["callback_data"] == f"take:{device.id}"
    assert remind(SAT).holds == 0  # idempotent


def test_failing_queue_holds_do_not_stop_reminders(remind, seed, user, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("queue bug")

    monkeypatch.setattr("inventory.queue.expire_holds", broken)
    seed.loan(seed.device(1), user, due=THU)
    report = remind()
    assert report.holds_failed and report.sent == 1


# --- the command line ------------------------------------------------------------------------


def env_for(config, **extra: str) -> dict[str, str]:
    """Environment variables for main() on the test database."""
    return {"BOT_TOKEN": config.bot_token, "DATABASE_URL": config.database_url,
            "TELEGRAM_API_URL": config.telegram_api_url, "ADMIN_IDS": str(ADMIN_ID),
            "LOG_FILE": config.log_file, **extra}


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as exit_info:
        job.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--loop" in out and "--dry-run" in out and "--today" in out


def test_main_sends_and_prints_one_report_line(config, seed, user, sender, capsys):
    seed.loan(seed.device(1, "Эвотор 7.2"), user, due=THU)
    db.close()
    assert job.main(["--today", "2026-11-26"], environ=env_for(config)) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["reminders 26.11.2026: sent 1, skipped 0, unreachable 0, failed 0; "
                   "admin digest: sent 0, skipped 0, unreachable 0, failed 0; "
                   "expired holds: 0"]
    assert len(sender.of("sendMessage", USER_ID)) == 1
    assert job.main(["--today", "2026-11-26"], environ=env_for(config)) == 0
    assert "sent 0, skipped 1" in capsys.readouterr().out
    assert len(sender.of("sendMessage", USER_ID)) == 1


def test_dry_run_prints_and_sends_nothing(config, seed, user, sender, capsys):
    seed.loan(seed.device(1, "Эвотор 7.2"), user, due=THU - timedelta(days=2))
    db.close()
    env = env_for(config)
    del env["BOT_TOKEN"]  # a dry run needs no token
    assert job.main(["--dry-run", "--today", "2026-11-26"], environ=env) == 0
    out = capsys.readouterr().out
    assert texts.REMIND_OVERDUE.format(days="2 дня", date="24.11.2026") in out
    assert "Эвотор 7.2" in out and f"[{texts.BTN_EXTEND}]" in out
    assert texts.DIGEST_TITLE.format(count=1, date="26.11.2026").replace("<b>", "").replace(
        "</b>", "") in out
    assert out.strip().splitlines()[-1].startswith("dry run: reminders 26.11.2026: sent 1")
    assert sender.calls == []
    assert Loan.get().reminded_on is None
    assert AuditLog.select().where(AuditLog.action.startswith("reminders")).count() == 0


def test_unreachable_database_is_one_line_and_nonzero(config, capsys):
    env = env_for(config, DATABASE_URL="postgresql://postgres@127.0.0.1:1/devtrack")
    assert job.main(["--today", "2026-11-26"], environ=env) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("reminders: DATABASE_URL: cannot open the database:")
    assert captured.out == ""


def test_missing_schema_is_reported_and_not_created(config, tmp_path, capsys):
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    env = env_for(config, DATABASE_URL=f"sqlite:///{empty}")
    assert job.main([], environ=env) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no devtrack schema" in err[0] and "start the bot" in err[0]
    with sqlite3.connect(empty) as check:
        assert check.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    missing = tmp_path / "nowhere" / "devtrack.db"
    assert job.main([], environ=env_for(config, DATABASE_URL=f"sqlite:///{missing}")) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not missing.parent.exists()


def test_bad_arguments_and_config(config, capsys):
    with pytest.raises(SystemExit) as exit_info:
        job.main(["--today", "26.11.2026"], environ=env_for(config))
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        job.main(["--loop", "--today", "2026-11-26"], environ=env_for(config))
    assert job.main([], environ=env_for(config, REMINDER_WEEKDAYS="someday")) == 2
    assert "REMINDER_WEEKDAYS" in capsys.readouterr().err


class FrozenTime:
    """Stands in for schedule's `datetime` module: now() is a settable UTC instant."""

    def __init__(self, monkeypatch, utc: datetime) -> None:
        import datetime as real
        import types

        import schedule

        self.utc = utc
        frozen = self

        class Datetime(real.datetime):
            @classmethod
            def now(cls, tz=None):
                aware = frozen.utc.replace(tzinfo=real.UTC)
                # Naive local time of the machine, exactly as datetime.now() gives it.
                moment = aware.astimezone(tz) if tz else aware.astimezone().replace(tzinfo=None)
                return cls.fromtimestamp(moment.timestamp(), tz) if tz else cls(
                    *moment.timetuple()[:6], moment.microsecond)

        fake = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real)
                                        if not k.startswith("__")})
        fake.datetime = Datetime
        monkeypatch.setattr(schedule, "datetime", fake)

    def advance(self, **delta: float) -> None:
        """Move the clock on."""
        self.utc += timedelta(**delta)


def test_schedule_runs_daily_at_the_local_hour_of_timezone(config, monkeypatch):
    import schedule

    frozen = FrozenTime(monkeypatch, datetime(2026, 11, 26, 6, 59))  # 09:59 in Moscow
    calls: list[datetime] = []
    scheduler = schedule.Scheduler()
    job.schedule_daily(config, lambda: calls.append(frozen.utc), scheduler)
    scheduler.run_pending()
    assert calls == []
    frozen.advance(minutes=1)  # 10:00 Moscow = 07:00 UTC, whatever the machine's zone
    scheduler.run_pending()
    scheduler.run_pending()
    assert calls == [datetime(2026, 11, 26, 7, 0)]
    frozen.advance(hours=23, minutes=59)
    scheduler.run_pending()
    assert len(calls) == 1
    frozen.advance(minutes=1)
    scheduler.run_pending()
    assert calls[-1] == datetime(2026, 11, 27, 7, 0)


def test_schedule_follows_dst_of_timezone(config, monkeypatch):
    import schedule

    berlin = replace(config, timezone="Europe/Berlin")
    # 29.03.2026: clocks go forward, so 10:00 in Berlin is 08:00 UTC instead of 09:00.
    frozen = FrozenTime(monkeypatch, datetime(2026, 3, 28, 12, 0))
    calls: list[datetime] = []
    scheduler = schedule.Scheduler()
    job.schedule_daily(berlin, lambda: calls.append(frozen.utc), scheduler)
    frozen.advance(hours=19, minutes=59)  # 29.03 07:59 UTC = 09:59 CEST
    scheduler.run_pending()
    assert calls == []
    frozen.advance(minutes=1)
    scheduler.run_pending()
    assert calls == [datetime(2026, 3, 29, 8, 0)]


@pytest.mark.parametrize(("utc", "missed"), [
    (datetime(2026, 11, 26, 6, 59), False),  # 09:59 Moscow: the schedule will run at 10:00
    (datetime(2026, 11, 26, 7, 0), True),
    (datetime(2026, 11, 26, 8, 59), True),   # 11:59: a restart shortly after, run now
    (datetime(2026, 11, 26, 9, 0), False),   # 12:00: too late, wait for tomorrow
])
def test_a_loop_started_shortly_after_the_hour_catches_up(config, utc, missed):
    assert job.missed_today(config, utc) is missed


def test_loop_retries_a_run_that_owes_messages(config, monkeypatch):
    import schedule

    frozen = FrozenTime(monkeypatch, datetime(2026, 11, 26, 12, 0))
    codes = iter([job.EXIT_UNDELIVERED, job.EXIT_UNDELIVERED, 0])
    runs: list[datetime] = []

    def run() -> int:
        runs.append(frozen.utc)
        return next(codes)

    scheduler = schedule.Scheduler()
    daily = job.retrying(run, scheduler)
    assert daily() == job.EXIT_UNDELIVERED
    for _ in range(6):
        frozen.advance(minutes=job.RETRY_EVERY_MINUTES)
        scheduler.run_pending()
    assert runs == [datetime(2026, 11, 26, 12, 0), datetime(2026, 11, 26, 12, 10),
                    datetime(2026, 11, 26, 12, 20)]
    assert scheduler.jobs == [], "the retries stop once everything was delivered"


def test_loop_touches_its_heartbeat(config, tmp_path, monkeypatch):
    stop = threading.Event()
    beat = tmp_path / "scheduler-heartbeat"
    monkeypatch.setattr(job, "run_once", lambda *a, **k: 0)
    thread = threading.Thread(target=job.loop, args=(replace(config, heartbeat_file=str(beat)),),
                              kwargs={"stop": stop, "poll": 0.01,
                                      "clock": lambda: datetime(2026, 11, 26, 12, 0)},
                              daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not beat.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert beat.exists()
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_loop_runs_due_jobs_until_stopped(config, monkeypatch):
    stop = threading.Event()
    runs: list[bool] = []

    def fake_run_once(cfg, dry_run=False):
        runs.append(dry_run)
        stop.set()
        return 0

    def due_at_once(cfg, fn, scheduler):
        scheduled = scheduler.every(1).seconds.do(fn)
        scheduled.next_run = datetime.now()
        return scheduled

    monkeypatch.setattr(job, "schedule_daily", due_at_once)
    monkeypatch.setattr(job, "run_once", fake_run_once)
    thread = threading.Thread(target=job.loop, args=(config,), daemon=True,
                              kwargs={"stop": stop, "poll": 0.01, "dry_run": True,
                                      "clock": lambda: datetime(2026, 11, 26, 12, 0)})
    thread.start()
    try:
        thread.join(5)
        assert runs == [True] and not thread.is_alive()
    finally:
        stop.set()


# --- benchmark smoke -------------------------------------------------------------------------


def test_bench_section_runs(monkeypatch):
    from bench.__main__ import main as bench_main

    assert bench_main(["--small", "--section", "reminders", "--backend", "sqlite"]) == 0


# --- exit codes: a run that owes messages fails, so the CronJob retries it ----------------------


class Outage:
    """telegram_sender with Telegram failing (502 on every retry) for some chats, no sleeps."""

    def __init__(self, recorder, down: set[int]) -> None:
        self.recorder, self.down = recorder, down

    def __call__(self, config):
        from bot import create_bot

        self.notifier = Notifier(create_bot(config, threaded=False), sleep=lambda _s: None)
        return self

    def _fail_if_down(self, chat_id: int) -> None:
        if chat_id in self.down:
            self.recorder.fail("sendMessage", 502, "Bad Gateway", times=self.notifier.retries + 1)

    def send(self, person, text, markup=None):
        self._fail_if_down(person.telegram_id)
        return self.notifier.send(person, text, markup)

    def send_chat(self, chat_id, text, markup=None):
        self._fail_if_down(chat_id)
        return self.notifier.send_chat(chat_id, text, markup)


def test_undelivered_reminders_exit_nonzero_and_a_rerun_sends_only_those(
        config, three, sender, monkeypatch, capsys):
    seed_overdue = Loan.update(due_date=THU - timedelta(days=1)).where(
        Loan.person == three[2]).execute()
    assert seed_overdue == 1  # an overdue loan, so the admin gets a digest
    db.close()
    blocked, down, fine = (p.telegram_id for p in three)
    monkeypatch.setattr(job, "telegram_sender", Outage(sender, {down, ADMIN_ID}))
    sender.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")

    assert job.main(["--today", "2026-11-26"], environ=env_for(config)) == job.EXIT_UNDELIVERED
    captured = capsys.readouterr()
    assert "sent 1, skipped 0, unreachable 1, failed 1; admin digest: sent 0, skipped 0, " \
           "unreachable 0, failed 1" in captured.out
    assert captured.err.strip().splitlines() == [
        "reminders: some messages could not be sent; a rerun sends only those"]
    assert [len(sender.of("sendMessage", chat)) for chat in (blocked, down, fine, ADMIN_ID)] == [
        1, 4, 1, 4]

    # Telegram is back: the CronJob's retry delivers exactly what is still owed and exits 0.
    sender.clear()
    monkeypatch.setattr(job, "telegram_sender", Outage(sender, set()))
    assert job.main(["--today", "2026-11-26"], environ=env_for(config)) == 0
    assert [int(c.params["chat_id"]) for c in sender.of("sendMessage")] == [down, ADMIN_ID]
    assert "sent 1, skipped 2, unreachable 0, failed 0; admin digest: sent 1" in (
        capsys.readouterr().out)
    sender.clear()
    assert job.main(["--today", "2026-11-26"], environ=env_for(config)) == 0
    assert sender.of("sendMessage") == []


def test_a_person_who_blocked_the_bot_does_not_fail_the_run(config, three, sender, monkeypatch,
                                                            capsys):
    db.close()
    monkeypatch.setattr(job, "telegram_sender", Outage(sender, set()))
    sender.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert job.main(["--today", "2026-11-26"], environ=env_for(config)) == 0
    assert "sent 2, skipped 0, unreachable 1, failed 0" in capsys.readouterr().out


def test_failed_queue_holds_fail_the_run(config, three, sender, monkeypatch, capsys):
    db.close()
    monkeypatch.setattr(job, "telegram_sender", Outage(sender, set()))

    def broken(*_args):
        raise RuntimeError("holds are broken")

    monkeypatch.setattr(job, "apply_queue_holds", broken)
    assert job.main(["--today", "2026-11-26"], environ=env_for(config)) == job.EXIT_UNDELIVERED
    assert "sent 3" in capsys.readouterr().out
