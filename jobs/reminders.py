"""Daily reminders: `python -m jobs.reminders` does one run and exits (the CronJob).

One run, on a day listed in REMINDER_WEEKDAYS:
1. applies expired queue holds (`inventory.queue.expire_holds`) and tells the people concerned;
2. sends every holder of a loan that is overdue, due today, due tomorrow, or due on the
   non-working days before the next working day ONE message listing all those devices, each with
   «Вернуть» and «Продлить на неделю»;
3. sends every admin (ADMIN_IDS) one digest of overdue devices and of unreachable holders.
On other days it only applies queue holds.

Idempotent and safe against a parallel run: loans are claimed with a conditional
`UPDATE loan SET reminded_on = today ... RETURNING id` before sending (a few people at a time,
one second of sends ahead), and each person is sent only the loans this run actually claimed; the
digest is claimed per admin and day in the audit log under a lock. A send that fails (not 403)
releases its claim, so a later run the same day tries again; a 403 keeps it (the person is marked
unreachable and shows up in the digest). The job never applies migrations: the bot does
(peewee-migrate patches peewee globally; see the pitfalls in docs/DEVELOPING.md).
"""

from __future__ import annotations

import argparse
import html
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import peewee as pw
import schedule
from playhouse.pool import PooledDatabase

from cli import config_or_report, first_line
from config import Config
from inventory import access, reminders
from inventory.clock import local_date, local_time
from jobs.healthcheck import touch_heartbeat
from models import AuditLog, Device, Loan, Person, init_db, utcnow
from notices import Buttons, Delivery, Sender
from notices.holds import expire_and_tell
from notices.reminders import digest_messages, reminder_messages

logger = logging.getLogger(__name__)

PROG = "python -m jobs.reminders"
# Exit codes: the CronJob retries 1 and 3 (backoffLimit); 2 is a configuration error that no
# retry can fix (podFailurePolicy fails the Job at once).
EXIT_RUN_FAILED, EXIT_CONFIG, EXIT_UNDELIVERED = 1, 2, 3
CLAIM_AHEAD_SECONDS = 1.0
REQUIRED_TABLES = tuple(m._meta.table_name for m in (Person, Device, Loan, AuditLog))


class SchemaMissing(Exception):
    """The database exists but the bot has not created the tables yet."""


@dataclass
class Tally:
    """Outcomes of one kind of message, counted per recipient."""

    sent: int = 0
    skipped: int = 0
    unreachable: int = 0
    failed: int = 0

    def add(self, outcome: Delivery) -> None:
        """Count one recipient's outcome."""
        name = outcome.value
        setattr(self, name, getattr(self, name) + 1)

    def __str__(self) -> str:
        return (f"sent {self.sent}, skipped {self.skipped}, unreachable {self.unreachable}, "
                f"failed {self.failed}")


@dataclass
class Report:
    """What one run did."""

    today: date
    working_day: bool = True
    dry_run: bool = False
    people: Tally = field(default_factory=Tally)
    digest: Tally = field(default_factory=Tally)
    holds: int | None = None
    holds_failed: bool = False

    @property
    def sent(self) -> int:
        """Personal reminders sent."""
        return self.people.sent

    @property
    def skipped(self) -> int:
        """People with due loans left alone (reminded already, no Telegram, another run)."""
        return self.people.skipped

    @property
    def unreachable(self) -> int:
        """People who blocked the bot (403)."""
        return self.people.unreachable

    @property
    def failed(self) -> int:
        """People whose reminder could not be delivered (claims released)."""
        return self.people.failed

    def line(self) -> str:
        """The one-line summary printed at the end of a run."""
        day = self.today.strftime("%d.%m.%Y")
        head = f"{'dry run: ' if self.dry_run else ''}reminders {day}"
        if not self.working_day:
            head += " (not in REMINDER_WEEKDAYS: nothing to send)"
        if self.holds_failed:
            holds = "failed"
        else:
            holds = "n/a" if self.holds is None else str(self.holds)
        return f"{head}: {self.people}; admin digest: {self.digest}; expired holds: {holds}"

    @property
    def complete(self) -> bool:
        """Nothing is still owed: no reminder or digest failed, the holds were applied.

        A person who blocked the bot counts as unreachable, not failed: a retry cannot reach
        them either. Failed sends released their claims, so a rerun delivers exactly those.
        """
        return not (self.people.failed or self.digest.failed or self.holds_failed)


# --- one run ---------------------------------------------------------------------------------


def apply_queue_holds(now: datetime, sender: Sender, config: Config) -> int:
    """Pass run-out holds on; tell whose hold lapsed and who now has a device held for them."""
    return expire_and_tell(sender, config, now)


def run(today: date, sender: Sender, config: Config, now: datetime, *,
        dry_run: bool = False) -> Report:
    """One reminder run for the local date `today`; `now` (naive UTC) stamps the changes."""
    report = Report(today, dry_run=dry_run)
    if not dry_run:
        try:
            report.holds = apply_queue_holds(now, sender, config)
        except Exception:  # noqa: BLE001 - holds are another feature; reminders still go out
            logger.exception("applying expired queue holds failed")
            report.holds_failed = True
    weekdays = config.reminder_weekdays
    if not reminders.is_working_day(today, weekdays):
        report.working_day = False
        logger.info("%s is not a reminder day: nothing sent", today)
        return report
    until = reminders.announce_until(today, weekdays)
    groups = reminders.by_person(reminders.due_loans(until))
    size = claim_batch(config)
    for start in range(0, len(groups), size):
        remind_batch(groups[start:start + size], today, until, sender, config, now, report,
                     dry_run=dry_run)
    send_digests(today, sender, config, now, report, dry_run=dry_run)
    logger.debug("%s", report.line())
    return report


def claim_batch(config: Config) -> int:
    """People claimed per UPDATE: one second of sends at REMINDER_RATE.

    Claiming a little ahead keeps a run with 2,000 people due at a few dozen statements; if the
    process dies, at most that second's worth of claimed reminders is lost for the day.
    """
    return max(1, int(config.reminder_rate * CLAIM_AHEAD_SECONDS))


def remind_batch(groups: list[tuple[Person, list[Loan]]], today: date, until: date,
                 sender: Sender, config: Config, now: datetime, report: Report, *,
                 dry_run: bool = False) -> None:
    """Claim the loans of a few people in one atomic UPDATE, then send to each in turn."""
    todo: list[tuple[Person, list[Loan]]] = []
    for person, held in groups:
        waiting = reminders.pending(held, today)
        if person.telegram_id is None or person.deleted_at is not None or not waiting:
            report.people.add(Delivery.SKIPPED)  # no Telegram, or reminded already today
        else:
            todo.append((person, waiting))
    if not todo:
        return
    ids = [loan.id for _, waiting in todo for loan in waiting]
    try:
        claimed = set(ids) if dry_run else reminders.claim(ids, today, until, now)
    except pw.PeeweeException as exc:
        logger.warning("claiming reminders failed: %s", first_line(exc))
        for _ in todo:
            report.people.add(Delivery.FAILED)
        return
    for person, waiting in todo:
        mine = [loan for loan in waiting if loan.id in claimed]
        if not mine:
            report.people.add(Delivery.SKIPPED)  # a parallel run claimed them first
            continue
        report.people.add(remind_safely(person, mine, today, sender, config, now,
                                        dry_run=dry_run))


def remind_safely(person: Person, mine: list[Loan], today: date, sender: Sender,
                  config: Config, now: datetime, *, dry_run: bool = False) -> Delivery:
    """remind(), with any failure logged and counted: one person never stops the run."""
    try:
        return remind(person, mine, today, sender, config, now, dry_run=dry_run)
    except pw.PeeweeException as exc:
        logger.warning("reminder for person %s failed: %s", person.id, first_line(exc))
    except Exception:  # noqa: BLE001 - one failing person never stops the run
        logger.exception("reminder for person %s failed", person.id)
    return Delivery.FAILED


def remind(person: Person, mine: list[Loan], today: date, sender: Sender, config: Config,
           now: datetime, *, dry_run: bool = False) -> Delivery:
    """Send the claimed loans in one message; release the claims of whatever was not sent."""
    previous = {loan.id: loan.reminded_on for loan in mine}
    try:
        outcome, unsent = deliver(person, mine, today, sender, config)
    except BaseException:
        if not dry_run:
            reminders.release(previous, today, now)
        raise
    if unsent and not dry_run:
        reminders.release({loan.id: previous[loan.id] for loan in unsent}, today, now)
    return outcome


def deliver(person: Person, mine: list[Loan], today: date, sender: Sender,
            config: Config) -> tuple[Delivery, list[Loan]]:
    """Send the reminder (split only if too long); the outcome and the loans to release."""
    outcome = Delivery.SENT
    unsent: list[Loan] = []
    for message in reminder_messages(mine, today, config.reminder_weekdays):
        result = sender.send(person, message.text, message.buttons)
        if result is Delivery.UNREACHABLE:
            # Blocked: no point in the other parts; the claims stay (no retry today).
            return Delivery.UNREACHABLE, unsent
        if result is not Delivery.SENT:
            # Failed (or skipped): these loans are released; the other parts still go out.
            unsent.extend(message.loans)
            outcome = result if outcome is Delivery.SENT else outcome
    return outcome, unsent


def send_digests(today: date, sender: Sender, config: Config, now: datetime, report: Report,
                 *, dry_run: bool = False) -> None:
    """One digest per admin: overdue devices and unreachable holders (nothing if neither)."""
    # ADMIN_IDS and the people made admins in /users (inventory.access decides who is one).
    ids = access.admin_chat_ids(config.admin_ids)
    if not ids:
        return
    overdue = reminders.overdue_loans(today)
    unreachable = reminders.unreachable_holders()
    if not overdue and not unreachable:
        return
    messages = digest_messages(overdue, unreachable, today)
    admins = access.active_by_chat(ids)
    for chat_id in ids:
        try:
            outcome = send_digest(chat_id, admins.get(chat_id), messages, today, sender, now,
                                  dry_run=dry_run)
        except pw.PeeweeException as exc:
            logger.warning("digest for admin %s failed: %s", chat_id, first_line(exc))
            outcome = Delivery.FAILED
        except Exception:  # noqa: BLE001 - one admin's failure never stops the others
            logger.exception("digest for admin %s failed", chat_id)
            outcome = Delivery.FAILED
        report.digest.add(outcome)


def send_digest(chat_id: int, admin: Person | None, messages: list[str], today: date,
                sender: Sender, now: datetime, *, dry_run: bool = False) -> Delivery:
    """Claim this admin's digest for today, send it, release the claim if it failed."""
    if dry_run:
        if reminders.digest_sent(today, chat_id):
            return Delivery.SKIPPED
        entry = None
    else:
        entry = reminders.claim_digest(today, chat_id, now)
        if entry is None:
            return Delivery.SKIPPED
    outcome = Delivery.SENT
    try:
        for text in messages:
            # Admins without a Person row (never registered) get it by their Telegram id.
            outcome = sender.send(admin, text) if admin else sender.send_chat(chat_id, text)
            if outcome is not Delivery.SENT:
                break
    except BaseException:
        outcome = Delivery.FAILED
        raise
    finally:
        if entry is not None and outcome is Delivery.FAILED:
            reminders.release_digest(entry, now)
    return outcome


# --- the process -----------------------------------------------------------------------------


class PrintingSender:
    """--dry-run: print every message instead of sending it."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def send(self, person: Person, text: str, buttons: Buttons | None = None) -> Delivery:
        """Print a message to a person."""
        who = f"{person.name or person.email} ({person.telegram_id})"
        return self._print(who, text, buttons)

    def send_chat(self, chat_id: int, text: str, buttons: Buttons | None = None) -> Delivery:
        """Print a message to a chat."""
        return self._print(f"chat {chat_id}", text, buttons)

    def _print(self, who: str, text: str, buttons: Buttons | None) -> Delivery:
        """Plain text, then the buttons in brackets."""
        print(f"--- to {who}", file=self.out)
        print(html.unescape(re.sub(r"<[^>]+>", "", text)), file=self.out)
        for row in buttons or []:
            print("  " + "  ".join(f"[{label}]" for label, _ in row), file=self.out)
        return Delivery.SENT


def open_database(config: Config) -> pw.Database:
    """Connect to the bot's database and check its schema; never migrates (the bot does)."""
    url = config.database_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        raise SchemaMissing(f"DATABASE_URL: {url[len('sqlite:///'):]} does not exist; start "
                            "the bot once (python bot.py) so that it creates the database")
    database = init_db(url)
    database.connect(reuse_if_open=True)
    missing = sorted(set(REQUIRED_TABLES) - set(database.get_tables()))
    if missing:
        database.close()
        raise SchemaMissing(f"the database has no devtrack schema (missing tables: "
                            f"{', '.join(missing)}); start the bot once (python bot.py) so "
                            "that it applies the migrations — this job never does")
    return database


def run_once(config: Config, *, today: date | None = None, dry_run: bool = False,
             out: TextIO | None = None, make_sender: Callable[[Config], Sender] | None = None,
             now: datetime | None = None) -> int:
    """Open the database, do one run, print the report line; the exit code.

    0: everything owed was delivered (or the person blocked the bot); 1: the run itself failed
    (one line on stderr); 3: some reminders or digests could not be sent and are owed to a rerun.
    """
    out = out or sys.stdout
    try:
        database = open_database(config)
    except SchemaMissing as exc:
        print(f"reminders: {exc}", file=sys.stderr)
        return 1
    except (pw.PeeweeException, OSError) as exc:
        print(f"reminders: DATABASE_URL: cannot open the database: {first_line(exc)}",
              file=sys.stderr)
        return 1
    try:
        moment = now or utcnow()
        day = today or local_date(moment, config)
        if dry_run:
            sender: Sender = PrintingSender(out)
        else:
            sender = (make_sender or telegram_sender)(config)
        report = run(day, sender, config, moment, dry_run=dry_run)
    except (pw.PeeweeException, OSError) as exc:
        print(f"reminders: the run failed, database error: {first_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - report any failure of the run in one line
        logger.debug("reminder run failed", exc_info=True)
        print(f"reminders: the run failed: {type(exc).__name__}: {first_line(exc)}",
              file=sys.stderr)
        return 1
    finally:
        database.close()
        if isinstance(database, PooledDatabase):
            database.close_all()  # nothing to keep idle until tomorrow's run
    print(report.line(), file=out)
    code = 0
    if not report.complete:
        print("reminders: some messages could not be sent; a rerun sends only those",
              file=sys.stderr)
        code = EXIT_UNDELIVERED
    if config.metrics_textfile and not dry_run:
        write_metrics(config.metrics_textfile, report, code)
    return code


def write_metrics(path: str, report: Report, code: int) -> None:
    """METRICS_TEXTFILE: the run's counts for the node-exporter textfile collector."""
    from metrics import write_job_textfile

    counts = {kind: {name: getattr(tally, name)
                     for name in ("sent", "skipped", "unreachable", "failed")}
              for kind, tally in (("reminder", report.people), ("digest", report.digest))}
    try:
        write_job_textfile(path, counts, code)
    except OSError as exc:  # the run itself went fine; say why the numbers are missing
        print(f"reminders: METRICS_TEXTFILE: cannot write {path}: {exc.strerror or exc}",
              file=sys.stderr)


def telegram_sender(config: Config) -> Sender:
    """The real thing: the Bot API on TELEGRAM_API_URL, rate-limited (jobs/sender.py)."""
    from jobs.sender import telegram_sender as make  # telebot only when really sending

    return make(config)


CATCH_UP = timedelta(hours=2)
# --loop: a run that still owes messages (Telegram down) is retried this often, this many times.
RETRY_EVERY_MINUTES, RETRIES = 10, 6


def schedule_daily(config: Config, job: Callable[[], Any],
                   scheduler: schedule.Scheduler | None = None) -> schedule.Job:
    """Register job daily at REMINDER_TIME in TIMEZONE; schedule does the timing (with pytz).

    schedule keeps the wall-clock time across DST changes of TIMEZONE, whatever the zone of the
    machine it runs on.
    """
    scheduler = scheduler or schedule.Scheduler()
    at = config.reminder_time.strftime("%H:%M")
    return scheduler.every().day.at(at, config.timezone).do(job)


def missed_today(config: Config, now: datetime) -> bool:
    """Whether `now` (naive UTC) is within CATCH_UP after today's REMINDER_TIME.

    Started then (a restart, a deploy), the loop runs at once: the day's run may have been
    missed, and if it was not, a second run sends nothing new.
    """
    local = local_time(now, config)
    moment = datetime.combine(local.date(), config.reminder_time, local.tzinfo)
    return timedelta(0) <= local - moment < CATCH_UP


def retrying(job: Callable[[], int], scheduler: schedule.Scheduler) -> Callable[[], int]:
    """Wrap a run: when it returns non-zero, retry it every RETRY_EVERY_MINUTES, RETRIES times.

    Failed sends released their claims, so a retry delivers only what is still owed.
    """
    def retry(state: dict[str, int]) -> Any:
        state["left"] -= 1
        if job() == 0 or state["left"] <= 0:
            return schedule.CancelJob
        return None

    def run() -> int:
        code = job()
        if code != 0:
            logger.warning("the reminder run owes messages: retrying every %d minutes, %d times",
                           RETRY_EVERY_MINUTES, RETRIES)
            scheduler.every(RETRY_EVERY_MINUTES).minutes.do(retry, {"left": RETRIES})
        return code

    return run


def loop(config: Config, *, dry_run: bool = False, stop: threading.Event | None = None,
         poll: float = 5.0, clock: Callable[[], datetime] = utcnow) -> int:
    """--loop: run daily at REMINDER_TIME until SIGTERM/SIGINT; touches HEARTBEAT_FILE."""
    stop = stop or threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    scheduler = schedule.Scheduler()
    daily = retrying(lambda: run_once(config, dry_run=dry_run), scheduler)
    schedule_daily(config, daily, scheduler)
    logger.info("reminders scheduled daily at %s %s", config.reminder_time.strftime("%H:%M"),
                config.timezone)
    touch_heartbeat(config.heartbeat_file)
    if missed_today(config, clock()):
        logger.info("started shortly after %s: running today's reminders now",
                    config.reminder_time.strftime("%H:%M"))
        daily()
    try:
        while True:
            # The scheduler's healthcheck (compose) reads this: the loop is alive.
            touch_heartbeat(config.heartbeat_file)
            if stop.wait(poll):
                break
            scheduler.run_pending()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    logger.info("reminder loop stopped")
    return 0


def parse_day(text: str) -> date:
    """--today YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-26") from exc


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Send today's due-date reminders and the admin digest, then exit. "
                    "Running it again the same day sends nothing new.",
    )
    parser.add_argument("--loop", action="store_true",
                        help="stay running and do a run daily at REMINDER_TIME in TIMEZONE")
    parser.add_argument("--today", type=parse_day, metavar="YYYY-MM-DD",
                        help="pretend today is this date (default: today in TIMEZONE)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the messages instead of sending; claim and change nothing")
    return parser


def setup_logging(config: Config) -> None:
    """Log to stderr in LOG_FORMAT, secrets redacted; the report line goes to stdout."""
    from logformat import make_formatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(config, "%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=config.log_level, handlers=[handler])
    # requests/urllib3 at DEBUG would print URLs that contain the token.
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Entry point of `python -m jobs.reminders`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.loop and args.today:
        parser.error("--today cannot be combined with --loop")
    config = config_or_report("reminders", environ, require_token=not args.dry_run)
    if config is None:
        return EXIT_CONFIG
    setup_logging(config)
    if args.loop:
        return loop(config, dry_run=args.dry_run)
    return run_once(config, today=args.today, dry_run=args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
