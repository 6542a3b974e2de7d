"""jobs/reminders.py against mutants: the command line, the report line and the printed dry run.

test_reminders.py runs the job end to end; these pin the texts an operator reads (help, the
report line, the dry-run transcript) and the small rules around a run (claim batch size).
"""

from __future__ import annotations

import io
import signal
import sqlite3
import threading
from dataclasses import replace
from datetime import date, datetime

import peewee as pw
import pytest
from conftest import ADMIN_ID
from test_reminders import FrozenTime, env_for

import jobs.reminders as job
from inventory import reminders
from models import db
from notices import Delivery
from notices.reminders import digest_messages

HELP = """\
usage: python -m jobs.reminders [-h] [--loop] [--today YYYY-MM-DD] [--dry-run]

Send today's due-date reminders and the admin digest, then exit. Running it
again the same day sends nothing new.

options:
  -h, --help          show this help message and exit
  --loop              stay running and do a run daily at REMINDER_TIME in
                      TIMEZONE
  --today YYYY-MM-DD  pretend today is this date (default: today in TIMEZONE)
  --dry-run           print the messages instead of sending; claim and change
                      nothing
"""


def test_help_text(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """--help prints the program name, the description and every option's help."""
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as exit_info:
        job.main(["--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == HELP


def test_parse_day_names_the_expected_form() -> None:
    """--today takes an ISO date and says which form it wants otherwise."""
    assert job.parse_day("2026-11-26") == date(2026, 11, 26)
    with pytest.raises(job.argparse.ArgumentTypeError) as err:
        job.parse_day("26.11.2026")
    assert str(err.value) == "'26.11.2026' is not a date like 2026-11-26"


def test_loop_and_today_are_refused_together(capsys: pytest.CaptureFixture[str]) -> None:
    """--loop with --today is a usage error naming both options."""
    with pytest.raises(SystemExit) as exit_info:
        job.main(["--loop", "--today", "2026-11-26"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "python -m jobs.reminders: error: --today cannot be combined with --loop")


def tally(sent: int = 0, skipped: int = 0, unreachable: int = 0, failed: int = 0) -> job.Tally:
    """A Tally with these counts, built through add()."""
    counts = job.Tally()
    for outcome, times in ((Delivery.SENT, sent), (Delivery.SKIPPED, skipped),
                           (Delivery.UNREACHABLE, unreachable), (Delivery.FAILED, failed)):
        for _ in range(times):
            counts.add(outcome)
    return counts


def test_tally_counts_each_outcome_apart() -> None:
    """add() counts into the outcome's own field; str() names all four."""
    counts = tally(sent=4, skipped=3, unreachable=2, failed=1)
    assert (counts.sent, counts.skipped, counts.unreachable, counts.failed) == (4, 3, 2, 1)
    assert str(counts) == "sent 4, skipped 3, unreachable 2, failed 1"


def test_report_line_and_properties() -> None:
    """The report line by case: dry run, not a reminder day, holds failed or not applied."""
    report = job.Report(date(2026, 11, 26), people=tally(3, 2, 1, 0), digest=tally(1), holds=2)
    assert (report.sent, report.skipped, report.unreachable, report.failed) == (3, 2, 1, 0)
    assert report.line() == ("reminders 26.11.2026: sent 3, skipped 2, unreachable 1, failed 0; "
                             "admin digest: sent 1, skipped 0, unreachable 0, failed 0; "
                             "expired holds: 2")
    assert report.complete
    off = job.Report(date(2026, 11, 28), working_day=False, dry_run=True)
    assert off.line() == ("dry run: reminders 28.11.2026 (not in REMINDER_WEEKDAYS: nothing to "
                          "send): sent 0, skipped 0, unreachable 0, failed 0; admin digest: "
                          "sent 0, skipped 0, unreachable 0, failed 0; expired holds: n/a")
    failed = job.Report(date(2026, 11, 26), holds=5, holds_failed=True)
    assert failed.line().endswith("expired holds: failed")
    assert not failed.complete


@pytest.mark.parametrize(("people", "digest", "complete"), [
    (tally(1, 1, 1, 0), tally(1, 1, 1, 0), True),
    (tally(failed=1), tally(), False),
    (tally(), tally(failed=1), False),
])
def test_complete_only_when_nothing_failed(people: job.Tally, digest: job.Tally,
                                           complete: bool) -> None:
    """A failed reminder or digest is still owed; an unreachable person is not."""
    report = job.Report(date(2026, 11, 26), people=people, digest=digest, holds=0)
    assert report.complete is complete
    assert report.failed == people.failed


class Someone:
    """Just the fields PrintingSender reads."""

    def __init__(self, name: str, email: str, telegram_id: int) -> None:
        self.name, self.email, self.telegram_id = name, email, telegram_id


def test_printing_sender_transcript() -> None:
    """--dry-run prints who, the text without tags and with entities, and the buttons."""
    out = io.StringIO()
    printer = job.PrintingSender(out)
    buttons = [[("Вернуть", "r:1"), ("Продлить на неделю", "x:1")], [("Ещё", "m")]]
    assert printer.send(Someone("Анна", "anna@company.ru", 5), "<b>Срок</b> &lt;1&gt;",
                        buttons) is Delivery.SENT
    assert printer.send(Someone("", "bob@company.ru", 6), "Привет") is Delivery.SENT
    assert printer.send_chat(42, "Дайджест <i>1</i>") is Delivery.SENT
    assert out.getvalue() == (
        "--- to Анна (5)\nСрок <1>\n  [Вернуть]  [Продлить на неделю]\n  [Ещё]\n"
        "--- to bob@company.ru (6)\nПривет\n"
        "--- to chat 42\nДайджест 1\n")


@pytest.mark.parametrize(("rate", "size"), [(25.0, 25), (0.5, 1), (0.0, 1), (2.9, 2)])
def test_claim_batch_is_one_second_of_sends(config, rate: float, size: int) -> None:
    """People claimed per UPDATE: REMINDER_RATE times one second, at least one."""
    assert job.claim_batch(replace(config, reminder_rate=rate)) == size


def test_write_metrics_writes_every_count_and_the_exit_code(tmp_path) -> None:
    """The textfile holds all four outcomes of both kinds and the run's exit code."""
    path = tmp_path / "reminders.prom"
    report = job.Report(date(2026, 11, 26), people=tally(4, 3, 2, 1), digest=tally(1, 0, 0, 2))
    job.write_metrics(str(path), report, job.EXIT_UNDELIVERED)
    lines = {line.rsplit(" ", 1)[0]: line.rsplit(" ", 1)[1]
             for line in path.read_text().splitlines() if not line.startswith("#")}
    expected = {"reminder": (4, 3, 2, 1), "digest": (1, 0, 0, 2)}
    for kind, values in expected.items():
        for outcome, value in zip(("sent", "skipped", "unreachable", "failed"), values,
                                  strict=True):
            key = f'devtrack_reminder_messages{{kind="{kind}",outcome="{outcome}"}}'
            assert float(lines.pop(key)) == value
    assert float(lines.pop("devtrack_reminder_last_run_exit_code")) == job.EXIT_UNDELIVERED
    assert set(lines) == {"devtrack_reminder_last_run_timestamp_seconds"}


def test_write_metrics_reports_a_path_it_cannot_write(tmp_path, capsys) -> None:
    """An unwritable METRICS_TEXTFILE is one line naming the path and the reason."""
    path = tmp_path / "missing" / "reminders.prom"
    job.write_metrics(str(path), job.Report(date(2026, 11, 26)), 0)
    assert capsys.readouterr().err == (
        f"reminders: METRICS_TEXTFILE: cannot write {path}: No such file or directory\n")


def test_retries_stop_after_retries_failed_runs(monkeypatch) -> None:
    """A run that keeps failing is retried exactly RETRIES times, then left for tomorrow."""
    import schedule

    runs: list[int] = []

    def failing() -> int:
        runs.append(1)
        return job.EXIT_RUN_FAILED

    frozen = FrozenTime(monkeypatch, datetime(2026, 11, 26, 12, 0))
    scheduler = schedule.Scheduler()
    daily = job.retrying(failing, scheduler)
    assert daily() == job.EXIT_RUN_FAILED
    [retry] = scheduler.jobs
    assert retry.interval == job.RETRY_EVERY_MINUTES and retry.unit == "minutes"
    for _ in range(job.RETRIES + 3):
        frozen.advance(minutes=job.RETRY_EVERY_MINUTES)
        scheduler.run_pending()
    assert len(runs) == 1 + job.RETRIES
    assert scheduler.jobs == []


def test_a_run_that_owes_nothing_is_not_retried() -> None:
    """Exit code 0: nothing is scheduled."""
    import schedule

    scheduler = schedule.Scheduler()
    assert job.retrying(lambda: 0, scheduler)() == 0
    assert scheduler.jobs == []


def press(signum: int, stop: threading.Event) -> list[bool]:
    """Call the handler installed for signum shortly (from a timer); record whether it stopped
    the loop within two seconds (the loop is stopped either way)."""
    stopped: list[bool] = []

    def fire() -> None:
        handler = signal.getsignal(signum)
        if callable(handler):
            handler(signum, None)
        stopped.append(stop.wait(2))
        stop.set()

    timer = threading.Timer(0.2, fire)
    timer.start()
    return stopped


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_loop_in_the_main_thread_stops_on_a_signal_and_restores_the_handlers(
        config, tmp_path, monkeypatch, signum) -> None:
    """SIGTERM or SIGINT ends the loop (0); the previous handlers are back afterwards; a missed
    run and its retries use the loop's own config and scheduler."""
    seen: list[object] = []

    def owing(cfg, dry_run=False) -> int:
        seen.append((cfg, dry_run))
        return job.EXIT_UNDELIVERED

    monkeypatch.setattr(job, "run_once", owing)
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    cfg = replace(config, heartbeat_file=str(tmp_path / "beat"))
    stop = threading.Event()
    stopped = press(signum, stop)
    # 07:30 UTC is 10:30 in Moscow: within the catch-up window, so it runs at once.
    code = job.loop(cfg, dry_run=True, stop=stop, poll=0.01,
                    clock=lambda: datetime(2026, 11, 26, 7, 30))
    assert stopped == [True]
    assert code == 0
    assert seen == [(cfg, True)]
    assert {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)} == before
    assert (tmp_path / "beat").exists()


class Sent:
    """A sender that delivers everything and records who got what."""

    def __init__(self) -> None:
        self.to: list[object] = []

    def send(self, person, text, buttons=None) -> Delivery:
        self.to.append(person.telegram_id)
        return Delivery.SENT

    def send_chat(self, chat_id, text, buttons=None) -> Delivery:
        self.to.append(chat_id)
        return Delivery.SENT


def test_run_once_prints_the_report_to_out_for_the_local_day(config, conn, capsys) -> None:
    """Without --today the day is the local date of now; the line goes to `out` only."""
    conn.close()
    out = io.StringIO()
    # 22:30 UTC on the 26th is already the 27th in Moscow.
    code = job.run_once(config, out=out, make_sender=lambda cfg: Sent(),
                        now=datetime(2026, 11, 26, 22, 30))
    assert code == 0
    assert out.getvalue() == ("reminders 27.11.2026: sent 0, skipped 0, unreachable 0, failed 0; "
                              "admin digest: sent 0, skipped 0, unreachable 0, failed 0; "
                              "expired holds: 0\n")
    assert capsys.readouterr() == ("", "")


def test_a_dry_run_prints_its_transcript_to_out(config, seed, capsys) -> None:
    """--dry-run: the messages are printed to `out`, like the report line."""
    person = seed.person(101, name="Анна")
    seed.loan(seed.device(1, "Эвотор 7.2"), person, due=date(2026, 11, 26))
    db.close()
    out = io.StringIO()
    assert job.run_once(config, today=date(2026, 11, 26), dry_run=True, out=out,
                        now=datetime(2026, 11, 26, 7, 0)) == 0
    assert out.getvalue().startswith("--- to Анна (101)\n")
    assert capsys.readouterr().out == ""


def failing_sender(exc: BaseException):
    """make_sender that fails the run with exc."""
    def make(cfg):
        raise exc
    return make


@pytest.mark.parametrize(("exc", "line"), [
    (pw.OperationalError("disk I/O error\nmore"),
     "reminders: the run failed, database error: disk I/O error"),
    (RuntimeError("no route\nto host"), "reminders: the run failed: RuntimeError: no route"),
])
def test_a_failed_run_is_one_line_and_exit_1(config, conn, capsys, exc, line) -> None:
    """A run that fails says so in one line on stderr and exits 1."""
    conn.close()
    out = io.StringIO()
    assert job.run_once(config, today=date(2026, 11, 26), out=out,
                        make_sender=failing_sender(exc)) == job.EXIT_RUN_FAILED
    assert capsys.readouterr().err == line + "\n"
    assert out.getvalue() == ""


def test_a_database_that_cannot_be_opened_is_named(config, tmp_path, capsys) -> None:
    """A DATABASE_URL that cannot be opened: one line with the driver's reason, exit 1."""
    url = f"sqlite:///{tmp_path}"  # a directory exists but is no database
    assert job.run_once(replace(config, database_url=url), today=date(2026, 11, 26),
                        out=io.StringIO()) == 1
    assert capsys.readouterr().err == (
        "reminders: DATABASE_URL: cannot open the database: unable to open database file\n")


def test_schema_problems_are_explained(config, tmp_path) -> None:
    """A missing file and a database without tables: what is wrong and what to do."""
    missing = tmp_path / "none.db"
    with pytest.raises(job.SchemaMissing) as err:
        job.open_database(replace(config, database_url=f"sqlite:///{missing}"))
    assert str(err.value) == (f"DATABASE_URL: {missing} does not exist; start the bot once "
                              "(python bot.py) so that it creates the database")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE loan (id INTEGER)").connection.close()
    with pytest.raises(job.SchemaMissing) as err:
        job.open_database(replace(config, database_url=f"sqlite:///{empty}"))
    assert str(err.value) == (
        "the database has no devtrack schema (missing tables: auditlog, device, person); "
        "start the bot once (python bot.py) so that it applies the migrations — this job "
        "never does")


@pytest.mark.parametrize("dry_run", [False, True])
def test_metrics_textfile_only_for_real_runs(config, conn, tmp_path, dry_run) -> None:
    """METRICS_TEXTFILE gets the run's exit code; a dry run writes none."""
    conn.close()
    path = tmp_path / "reminders.prom"
    cfg = replace(config, metrics_textfile=str(path))
    assert job.run_once(cfg, today=date(2026, 11, 26), dry_run=dry_run, out=io.StringIO(),
                        make_sender=lambda c: Sent()) == 0
    if dry_run:
        assert not path.exists()
    else:
        assert "devtrack_reminder_last_run_exit_code 0.0" in path.read_text().splitlines()


def test_setup_logging_to_stderr_with_the_text_format(config, restore_logging,
                                                      monkeypatch) -> None:
    """One stderr handler in the configured format; urllib3 kept at WARNING (URLs hold the
    token)."""
    import logging
    import sys

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    monkeypatch.setattr(logging.getLogger("urllib3"), "level", logging.NOTSET)
    job.setup_logging(replace(config, log_level="DEBUG"))
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr
    assert handler.formatter._fmt == "%(asctime)s %(levelname)s %(name)s %(message)s"
    assert root.level == logging.DEBUG
    assert logging.getLogger("urllib3").level == logging.WARNING


def test_main_reports_config_problems_under_its_name(config, capsys) -> None:
    """Configuration problems are printed as `reminders: …`; a real run needs BOT_TOKEN."""
    env = env_for(config, REMINDER_WEEKDAYS="someday")
    assert job.main(["--today", "2026-11-26"], environ=env) == job.EXIT_CONFIG
    err = capsys.readouterr().err.splitlines()
    assert err and all(line.startswith("reminders: ") for line in err)
    assert any("REMINDER_WEEKDAYS" in line for line in err)
    env = env_for(config)
    del env["BOT_TOKEN"]
    assert job.main(["--today", "2026-11-26"], environ=env) == job.EXIT_CONFIG
    assert "BOT_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize("dry_run", [False, True])
def test_main_loop_gets_the_config_and_dry_run(config, monkeypatch, restore_logging,
                                               dry_run) -> None:
    """--loop hands the loaded configuration and --dry-run to the loop."""
    calls: list[tuple[object, object]] = []
    monkeypatch.setattr(job, "loop", lambda cfg, dry_run=False: calls.append((cfg, dry_run)) or 0)
    argv = ["--loop", "--dry-run"] if dry_run else ["--loop"]
    assert job.main(argv, environ=env_for(config)) == 0
    [(cfg, flag)] = calls
    assert (cfg.database_url, cfg.bot_token, flag) == (config.database_url, config.bot_token,
                                                       dry_run)


@pytest.mark.parametrize("exc", [pw.OperationalError("database is locked"), RuntimeError("bug")])
def test_failed_claims_and_digests_are_counted_and_the_run_goes_on(config, seed, monkeypatch,
                                                                  exc) -> None:
    """A claim the database refuses counts its people as failed; a digest that fails counts
    that admin as failed; the run itself still ends with its report."""
    today = date(2026, 11, 26)
    seed.loan(seed.device(1), seed.person(101, name="Анна"), due=date(2026, 11, 20))
    seed.loan(seed.device(2), seed.person(102, name="Борис"), due=date(2026, 11, 20))

    def refuse(*args, **kwargs):
        raise pw.OperationalError("database is locked")

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(job.reminders, "claim", refuse)
    monkeypatch.setattr(job, "send_digest", broken)
    sender = Sent()
    report = job.run(today, sender, config, datetime(2026, 11, 26, 7, 0))
    assert (report.people.failed, report.people.sent) == (2, 0)
    assert (report.digest.failed, report.digest.sent) == (len(config.admin_ids), 0)
    assert sender.to == []


class Routed(Sent):
    """Records whether each message went to a person or to a bare chat id."""

    def send(self, person, text, buttons=None) -> Delivery:
        self.to.append(("person", person.telegram_id))
        return Delivery.SENT

    def send_chat(self, chat_id, text, buttons=None) -> Delivery:
        self.to.append(("chat", chat_id))
        return Delivery.SENT


def test_digests_go_to_registered_admins_as_people_whole_and_once_a_day(config, seed) -> None:
    """A registered admin gets the digest as a person (a block marks them unreachable), an
    admin known only from ADMIN_IDS by chat id; a digest too long for one message arrives in
    every part; a later dry run sees that today's digest went out."""
    today, now = date(2026, 11, 26), datetime(2026, 11, 26, 7, 0)
    holder = seed.person(101, name="Анна")
    for number in range(1, 121):
        seed.loan(seed.device(number, f"Очень длинное название устройства номер {number}"),
                  holder, due=date(2026, 11, 1))
    seed.person(ADMIN_ID, name="Админ")
    cfg = replace(config, admin_ids=frozenset({ADMIN_ID, 555}))
    parts = len(digest_messages(reminders.overdue_loans(today), reminders.unreachable_holders(),
                                today))
    assert parts > 1
    sender = Routed()
    report = job.run(today, sender, cfg, now)
    assert sender.to.count(("person", ADMIN_ID)) == parts
    assert sender.to.count(("chat", 555)) == parts
    assert ("chat", ADMIN_ID) not in sender.to
    assert report.digest.sent == 2
    again = job.run(today, Routed(), cfg, now, dry_run=True)
    assert (again.digest.skipped, again.digest.sent) == (2, 0)


def test_a_split_reminder_counts_its_first_failure(config, seed) -> None:
    """A reminder in several parts whose first part fails and a later one is skipped counts
    as failed (the first failure decides), and every part is tried."""
    holder = seed.person(101, name="Анна")
    for number in range(1, 121):
        seed.loan(seed.device(number, f"Очень длинное название устройства номер {number}"),
                  holder, due=date(2026, 11, 1))
    outcomes = iter([Delivery.FAILED] + [Delivery.SKIPPED] * 10)

    class Flaky(Routed):
        def send(self, person, text, buttons=None) -> Delivery:
            super().send(person, text, buttons)
            return next(outcomes)

    sender = Flaky()
    report = job.run(date(2026, 11, 26), sender, replace(config, admin_ids=frozenset()),
                     datetime(2026, 11, 26, 7, 0))
    assert sender.to.count(("person", 101)) > 1
    assert (report.people.failed, report.people.skipped) == (1, 0)
