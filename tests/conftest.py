"""Shared fixtures: databases (SQLite and PostgreSQL), a recording Bot API, bots, updates."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import peewee as pw
import pytest
from hypothesis import HealthCheck, settings
from telebot import apihelper, types

from config import Config
from inventory.prepared import Prepared
from inventory.search_plan import GramCounts
from models import MODELS, db, make_database
from playground.telegram_rules import check_request
from schema import apply_migrations

# Hypothesis: `ci` (the default, used by `make test`) is derandomized and keeps no example
# database, so two runs try the same inputs and cannot differ; nothing depends on timing.
# `fuzz` (`make fuzz`) draws fresh random input, many more examples, and remembers failures.
_NO_TIMING = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
              HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=60, derandomize=True, database=None,
                          deadline=None, print_blob=True, suppress_health_check=_NO_TIMING)
settings.register_profile("fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2000")),
                          derandomize=False, deadline=None, print_blob=True,
                          suppress_health_check=_NO_TIMING)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
T0 = datetime(2026, 11, 26, 9, 0)  # naive UTC: 12:00 in Moscow, a Thursday
# The newest committed migration: what a migrated database reports as its schema version.
ROOT = Path(__file__).resolve().parent.parent
LATEST_MIGRATION = sorted(p.stem for p in (ROOT / "migrations").glob("[0-9]*.py"))[-1]


# --- mutation runs ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _prepared_queries_compiled_afresh() -> None:
    """Every test compiles the prepared queries again and counts search trigrams afresh.

    A cached SQL text would hide a change of a query builder from every later test: from the
    rest of a run, and in mutmut, which runs each mutant in a fork of a process that has
    already compiled them.
    """
    for name, module in list(sys.modules.items()):
        if name.startswith("inventory."):
            for value in vars(module).values():
                if isinstance(value, Prepared | GramCounts):
                    value.forget()


def _mutant_module(mutant: str) -> str:
    """`loans` for inventory.loans.x_take__mutmut_3; empty outside a mutant's test run."""
    if "__mutmut_" not in mutant:
        return ""
    return mutant.rsplit(".", 1)[0].rsplit(".", 1)[-1]


_durations: dict[str, float] = {}


def _mutmut_durations() -> dict[str, float]:
    """Each test's duration in mutmut's coverage run (mutmut-stats.json in mutants/), if any.

    Read once per process: mutmut's fork server collects the tests before it forks, so its
    children inherit the parsed file instead of reading megabytes of JSON per mutant. (Before
    the coverage run has written it there is nothing to keep.)
    """
    stats = Path("mutmut-stats.json")
    if not _durations and stats.exists():
        _durations.update(json.loads(stats.read_text())["duration_by_test"])
    return _durations


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In a mutant's run, the module's own test files first, then the quickest tests.

    mutmut passes a mutant's tests in no particular order and stops at the first failure, so a
    caught mutant costs what runs before its first failing test.
    """
    durations = _mutmut_durations()
    module = _mutant_module(os.environ.get("MUTANT_UNDER_TEST", ""))
    if module:
        items.sort(key=lambda item: (not item.path.name.startswith(f"test_{module}"),
                                     durations.get(item.nodeid, 0.0)))


# --- databases -------------------------------------------------------------------------------


def _schema_digest() -> str:
    """A digest of everything that decides the migrated schema."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "migrations").glob("*.py")) + [ROOT / "models.py",
                                                             ROOT / "schema.py",
                                                             ROOT / "sqlite_db.py"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def sqlite_template() -> Path:
    """A migrated SQLite file, copied for every test that needs a database.

    Built once per schema and kept in the temporary directory: every pytest session reuses it,
    and mutmut starts one session per mutant, for which migrating afresh was a seventh of the
    time a caught mutant took.
    """
    path = Path(tempfile.gettempdir()) / f"devtrack-template-{_schema_digest()}.db"
    if not path.exists():
        scratch = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
        database = make_database(f"sqlite:///{scratch}")
        db.initialize(database)
        apply_migrations(database)
        database.close()
        database.close_all()  # pooled: the last close checkpoints the WAL into the file copied
        os.replace(scratch, path)  # whole or not at all, also when two sessions build it at once
    return path


_pg_ready = False
_require_pg = False


def pytest_addoption(parser: pytest.Parser) -> None:
    """--require-postgres turns a missing PostgreSQL into a failure instead of a skip."""
    parser.addoption("--require-postgres", action="store_true",
                     help="fail PostgreSQL cases instead of skipping them")
    parser.addoption("--require-browser", action="store_true",
                     help="fail the browser test instead of skipping it without Chromium")
    parser.addoption("--require-compose", action="store_true",
                     help="fail the compose client tests instead of skipping them without "
                          "docker compose / docker-compose")


def pytest_configure(config: pytest.Config) -> None:
    """Remember whether PostgreSQL is required."""
    global _require_pg
    _require_pg = config.getoption("--require-postgres")


def _pg_database() -> pw.Database:
    """The PostgreSQL test database, migrated once per session from an empty schema."""
    global _pg_ready
    if not PG_URL:
        if _require_pg:
            pytest.fail("--require-postgres given but TEST_DATABASE_URL is not set")
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL cases are skipped")
    database = make_database(PG_URL)
    db.initialize(database)
    if not _pg_ready:
        database.execute_sql("DROP SCHEMA IF EXISTS public CASCADE")
        database.execute_sql("CREATE SCHEMA public")
        apply_migrations(database)
        _pg_ready = True
    return database


def truncate_all(database: pw.Database) -> None:
    """Empty every table (keeps the migration history)."""
    tables = [m._meta.table_name for m in MODELS]
    if isinstance(database, pw.PostgresqlDatabase):
        database.execute_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    else:
        for table in reversed(tables):
            database.execute_sql(f"DELETE FROM {table}")


def count_queries(fn):
    """(fn's result, how many SQL statements it sent)."""
    database = db.obj
    counted = []
    original = database.execute_sql

    def counting(*args, **kwargs):
        counted.append(args[0])
        return original(*args, **kwargs)

    database.execute_sql = counting
    try:
        result = fn()
    finally:
        database.execute_sql = original
    return result, len(counted)


def open_backend(backend: str, tmp_path: Path, template: Path) -> tuple[pw.Database, str]:
    """Initialise the shared proxy on a clean database of the given kind."""
    if backend == "postgres":
        database = _pg_database()
        database.connect(reuse_if_open=True)
        truncate_all(database)
        database.close()
        return database, PG_URL
    path = tmp_path / "devtrack.db"
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    database = make_database(url)
    db.initialize(database)
    return database, url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test using it runs on SQLite and on PostgreSQL."""
    return request.param


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path,
             sqlite_template: Path) -> Iterator[pw.Database]:
    """A clean migrated database: the `backend` parameter if the test uses it, else SQLite."""
    kind = request.getfixturevalue("backend") if "backend" in request.fixturenames else "sqlite"
    database, url = open_backend(kind, tmp_path, sqlite_template)
    database.url = url
    database.connect(reuse_if_open=True)
    yield database
    if not database.is_closed():
        database.close()
    if isinstance(database, pw.PostgresqlDatabase):
        database.close_all()


@pytest.fixture
def conn(database: pw.Database) -> Iterator[pw.Database]:
    """The database, connected in the test's thread."""
    database.connect(reuse_if_open=True)
    yield database
    database.close()


# --- clock -----------------------------------------------------------------------------------


@dataclass
class Clock:
    """An injectable clock tests can move."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    """A clock at T0."""
    return Clock()


# --- recording Bot API -----------------------------------------------------------------------


class FakeResponse:
    """Just enough of requests.Response for pyTelegramBotAPI."""

    def __init__(self, status: int, payload: dict) -> None:
        self.status_code = status
        self._payload = payload
        self.text = json.dumps(payload)
        self.reason = "OK" if status == 200 else "Error"
        self.content = self.text.encode()

    def json(self) -> dict:
        return self._payload


KNOWN_METHODS = {
    "getMe", "sendMessage", "editMessageText", "editMessageReplyMarkup", "answerCallbackQuery",
    "deleteMessage", "sendDocument", "getFile", "setMyCommands", "deleteWebhook", "getUpdates",
}


@dataclass
class Call:
    """One recorded Bot API call."""

    method: str
    params: dict[str, Any]
    files: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def markup(self) -> dict:
        raw = self.params.get("reply_markup")
        if not raw:
            return {}
        return json.loads(raw) if isinstance(raw, str) else raw

    @property
    def buttons(self) -> list[dict]:
        return [b for row in self.markup.get("inline_keyboard", []) for b in row]

    def button(self, label_part: str) -> dict:
        """The first button whose label contains label_part."""
        for b in self.buttons:
            if label_part in b["text"]:
                return b
        labels = [b["text"] for b in self.buttons]
        raise AssertionError(f"no button with {label_part!r} in {labels}")


@dataclass
class RecordingSender:
    """A fake Bot API transport: records every call, validates it, fails loudly on unknowns."""

    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)
    message_ids: Any = field(default_factory=lambda: itertools.count(1000))
    lock: threading.Lock = field(default_factory=threading.Lock)
    delays: dict[str | tuple[str, str], float] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def __call__(self, http_method: str, url: str, params: dict | None = None,
                 files: dict | None = None, **_: Any) -> FakeResponse:
        method = url.rsplit("/", 1)[-1]
        params = dict(params or {})
        if method not in KNOWN_METHODS:
            raise AssertionError(f"unexpected Bot API method {method}")
        delay = self.delays.pop((method, str(params.get("chat_id"))), 0) or self.delays.pop(
            method, 0)
        if delay:
            threading.Event().wait(delay)
        with self.lock:
            self.calls.append(Call(method, params, files))
            queued = self.failures.get(method)
            if queued:
                status, payload = queued.pop(0)
                return FakeResponse(status, payload)
        problem = check_request(method, params)
        if problem:
            raise AssertionError(f"Telegram would reject {method}: {problem} {params}")
        return FakeResponse(200, {"ok": True, "result": self._result(method, params)})

    def _result(self, method: str, params: dict) -> Any:
        if method in ("sendMessage", "editMessageText", "sendDocument"):
            chat_id = int(params.get("chat_id", 0))
            message_id = int(params.get("message_id") or next(self.message_ids))
            return {"message_id": message_id, "date": 0,
                    "chat": {"id": chat_id, "type": "private"},
                    "from": {"id": 1000, "is_bot": True, "first_name": "devtrack"},
                    "text": params.get("text", "")}
        if method == "getMe":
            return {"id": 1000, "is_bot": True, "first_name": "devtrack",
                    "username": "devtrack_test_bot"}
        if method == "getFile":
            return {"file_id": params["file_id"], "file_unique_id": "u",
                    "file_path": f"documents/{params['file_id']}"}
        if method == "getUpdates":
            return []
        return True

    def fail(self, method: str, code: int, description: str, retry_after: int | None = None,
             times: int = 1) -> None:
        """Answer the next calls of method with a Telegram error."""
        payload: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if retry_after is not None:
            payload["parameters"] = {"retry_after": retry_after}
        self.failures.setdefault(method, []).extend([(code, payload)] * times)

    def of(self, method: str, chat_id: int | None = None) -> list[Call]:
        """Calls of one method (optionally to one chat)."""
        return [c for c in self.calls if c.method == method
                and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)]

    def texts(self, chat_id: int | None = None) -> list[str]:
        """Texts sent or edited, in order."""
        return [c.text for c in self.calls
                if c.method in ("sendMessage", "editMessageText")
                and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)]

    def last(self, chat_id: int | None = None) -> Call:
        """The last sendMessage/editMessageText."""
        found = [c for c in self.calls if c.method in ("sendMessage", "editMessageText")
                 and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)]
        assert found, f"nothing was sent; calls: {[c.method for c in self.calls]}"
        return found[-1]

    def alerts(self) -> list[str]:
        """Texts of answerCallbackQuery."""
        return [str(c.params.get("text", "")) for c in self.of("answerCallbackQuery")]

    def clear(self) -> None:
        """Forget the recorded calls."""
        self.calls.clear()


@pytest.fixture
def sender(monkeypatch: pytest.MonkeyPatch) -> RecordingSender:
    """Route every Bot API call of this test into a recorder."""
    recorder = RecordingSender()
    monkeypatch.setattr(apihelper, "CUSTOM_REQUEST_SENDER", recorder)
    monkeypatch.setattr(apihelper, "API_URL", None)
    monkeypatch.setattr(apihelper, "FILE_URL", None)
    return recorder


# --- bots and updates ------------------------------------------------------------------------

ADMIN_ID = 900
DEV_ID = 901
USER_ID = 100


@pytest.fixture
def config(database: pw.Database, tmp_path: Path) -> Config:
    """A test configuration on the test database."""
    return Config(
        bot_token="123:TEST",
        database_url=database.url,
        telegram_api_url="http://127.0.0.1:9",
        admin_ids=frozenset({ADMIN_ID}),
        developer_ids=frozenset({DEV_ID}),
        developer_code="s3cret-code",
        log_file=str(tmp_path / "devtrack.log"),
        heartbeat_file=str(tmp_path / "heartbeat"),
        # Tests of other features register people by typing an email; the email and approve
        # modes are tested in test_access.py with make_harness(registration=...).
        registration="open",
    )


_update_ids = itertools.count(1)
_message_ids = itertools.count(1)


def message_update(user_id: int, text: str | None = None, **extra: Any) -> dict:
    """A Bot API Update with a private message from user_id."""
    message: dict[str, Any] = {
        "message_id": next(_message_ids),
        "date": 1_700_000_000,
        "chat": {"id": user_id, "type": "private"},
        "from": {"id": user_id, "is_bot": False, "first_name": extra.pop("first_name", "Иван"),
                 "last_name": extra.pop("last_name", "Петров"),
                 "username": extra.pop("username", f"user{user_id}")},
    }
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(text.split()[0])}]
    message.update(extra)
    return {"update_id": next(_update_ids), "message": message}


def callback_update(user_id: int, data: str, message_id: int = 1) -> dict:
    """A Bot API Update with a button press in user_id's private chat."""
    return {"update_id": next(_update_ids), "callback_query": {
        "id": str(next(_update_ids)), "chat_instance": "ci", "data": data,
        "from": {"id": user_id, "is_bot": False, "first_name": "Иван",
                 "username": f"user{user_id}"},
        "message": {"message_id": message_id, "date": 1_700_000_000,
                    "chat": {"id": user_id, "type": "private"},
                    "from": {"id": 1000, "is_bot": True, "first_name": "devtrack"},
                    "text": "..."},
    }}


def dialog_state(chat_id: int) -> str | None:
    """The dialogue state stored for a chat."""
    from models import DialogState

    row = DialogState.get_or_none(DialogState.chat_id == chat_id)
    return row.state if row else None


@dataclass
class Harness:
    """A bot fed with updates in the test's thread, and what it sent back."""

    bot: Any
    sender: RecordingSender
    clock: Clock

    def send(self, user_id: int, text: str, **extra: Any) -> RecordingSender:
        """Feed a text message."""
        update = types.Update.de_json(message_update(user_id, text, **extra))
        self.bot.process_new_updates([update])
        return self.sender

    def press(self, user_id: int, data: str, message_id: int = 1) -> RecordingSender:
        """Feed a button press."""
        self.bot.process_new_updates([types.Update.de_json(
            callback_update(user_id, data, message_id))])
        return self.sender

    def update(self, raw: dict) -> RecordingSender:
        """Feed a raw update."""
        self.bot.process_new_updates([types.Update.de_json(raw)])
        return self.sender


@pytest.fixture
def make_harness(config: Config, sender: RecordingSender, clock: Clock):
    """Build a harness; keyword arguments override Config fields."""
    from bot import create_bot

    def build(**overrides: Any) -> Harness:
        bot = create_bot(replace(config, **overrides), threaded=False, clock=clock)
        return Harness(bot, sender, clock)

    return build


@pytest.fixture
def harness(make_harness) -> Harness:
    """A harness with the default test configuration."""
    return make_harness()


# --- logging ---------------------------------------------------------------------------------


@pytest.fixture
def restore_logging():
    """Put the root logger back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


# --- data ------------------------------------------------------------------------------------


@dataclass
class Seed:
    """Creates rows the way the domain would, for tests."""

    clock: Clock

    def category(self, name: str = "Онлайн-касса") -> Any:
        from models import Category

        return Category.get_or_create(name=name)[0]

    def device(self, number: int, name: str = "Эвотор 7.2", serial: str | None = None,
               category: str = "Онлайн-касса", **fields: Any) -> Any:
        from inventory.devices import search_text_for
        from models import Device

        serial = serial or f"SN-{number:05d}"
        return Device.create(number=number, name=name, serial=serial,
                             category=self.category(category),
                             search_text=search_text_for(name, serial), **fields)

    def person(self, telegram_id: int | None, email: str | None = None, name: str = "Иван Петров",
               username: str = "") -> Any:
        from models import Person

        email = email or f"user{telegram_id}@company.ru"
        return Person.create(telegram_id=telegram_id, email=email, name=name, username=username)

    def loan(self, device: Any, person: Any, due: Any = None, place: str = "") -> Any:
        from inventory import loans

        return loans.take(device.id, person, now=self.clock.now, due_date=due, place=place)


@pytest.fixture
def seed(conn: pw.Database, clock: Clock) -> Seed:
    """Row factories on the test database."""
    return Seed(clock)

