"""The import rules between layers, checked on the source (AST) and on a real import.

- handlers/ turns updates into calls of inventory/ and templates: no peewee, no models at run
  time (a type-only import under `if TYPE_CHECKING:` is fine), no `db`, no query calls.
- inventory/ (the domain) knows nothing of Telegram, the handlers, the jobs or the bot.
- jobs/ uses inventory/ and notices/; only jobs/sender.py may reach Telegram (telebot, outbox/).
- notices/ renders without Telegram; from handlers/ it may use only the text layer
  (handlers/texts.py, handlers/fit.py), which itself imports nothing of handlers/ or telebot.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEXT_LAYER = {"handlers.texts", "handlers.fit"}
TELEGRAM = {"telebot", "outbox", "bot", "dispatch"}
QUERY_METHODS = {"select", "get_or_none", "get_by_id", "insert", "insert_many", "create",
                 "delete_by_id", "atomic", "transaction", "connect", "execute", "execute_sql"}
MODEL_NAMES = {"Category", "Device", "Person", "Loan", "QueueEntry", "Handover", "AuditLog",
               "DialogState", "AccessRequest", "RegistrationCode"}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Line numbers inside `if TYPE_CHECKING:` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports(tree: ast.AST) -> list[tuple[str, int]]:
    """Every module a source imports, dotted (`from a import b` gives a and a.b), with its line."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, node.lineno))
            found.extend((f"{node.module}.{alias.name}", node.lineno) for alias in node.names)
    return found


def _under(module: str, roots: set[str]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def violations(layer: str, source: str, name: str = "") -> list[str]:
    """What breaks the rules of `layer` in one module's source (empty list: none)."""
    tree = ast.parse(source)
    type_only = _type_checking_lines(tree)
    problems = []
    for module, line in imports(tree):
        runtime = line not in type_only
        if layer == "handlers" and runtime and _under(module, {"models", "peewee", "playhouse"}):
            problems.append(f"line {line}: handlers import {module}")
        elif layer == "inventory" and _under(module, TELEGRAM | {"handlers", "notices", "jobs"}):
            problems.append(f"line {line}: inventory imports {module}")
        elif layer == "jobs" and name != "sender" and (
                _under(module, TELEGRAM | {"handlers"})):
            problems.append(f"line {line}: jobs import {module}")
        elif layer == "jobs" and _under(module, {"handlers", "bot", "dispatch"}):
            problems.append(f"line {line}: jobs import {module}")
        elif layer == "notices" and (_under(module, TELEGRAM | {"jobs"}) or (
                _under(module, {"handlers"}) and module not in TEXT_LAYER
                and module.rsplit(".", 1)[0] not in TEXT_LAYER and module != "handlers")):
            problems.append(f"line {line}: notices import {module}")
        elif layer == "text" and _under(module, TELEGRAM | {"handlers", "models", "inventory"}):
            problems.append(f"line {line}: the text layer imports {module}")
    if layer == "handlers":
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                owner = node.value.id
                if owner == "db" or (owner in MODEL_NAMES and node.attr in QUERY_METHODS):
                    problems.append(f"line {node.lineno}: handlers use {owner}.{node.attr}")
    return problems


def modules() -> list[tuple[str, Path]]:
    """(layer, file) for every module the rules cover."""
    found = []
    for layer in ("handlers", "inventory", "jobs", "notices"):
        for path in sorted((ROOT / layer).glob("*.py")):
            text = f"handlers.{path.stem}" in TEXT_LAYER
            found.append(("text" if text else layer, path))
    return found


@pytest.mark.parametrize(("layer", "path"), modules(), ids=lambda v: getattr(v, "name", v))
def test_module_keeps_the_import_rules(layer, path):
    assert violations(layer, path.read_text(encoding="utf-8"), path.stem) == []


@pytest.mark.parametrize(("layer", "source"), [
    ("handlers", "from models import Device\n"),
    ("handlers", "import models\n"),
    ("handlers", "import peewee as pw\n"),
    ("handlers", "from inventory import loans\nDevice.select().where(1)\n"),
    ("handlers", "from inventory import people\nPerson.get_or_none(Person.id == 1)\n"),
    ("handlers", "def f():\n    with db.atomic():\n        pass\n"),
    ("inventory", "from handlers import texts\n"),
    ("inventory", "from telebot import types\n"),
    ("inventory", "import bot\n"),
    ("jobs", "from handlers.context import Ctx\n"),
    ("jobs", "from bot import create_bot\n"),
    ("jobs", "from telebot.types import InlineKeyboardMarkup\n"),
    ("jobs", "from outbox.notifier import Notifier\n"),
    ("notices", "from handlers import keyboards\n"),
    ("notices", "from handlers.keyboards import button\n"),
    ("notices", "import telebot\n"),
    ("text", "from handlers.context import Ctx\n"),
])
def test_the_checker_flags_a_forbidden_import(layer, source):
    assert violations(layer, source), source


@pytest.mark.parametrize(("layer", "source"), [
    ("handlers", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                 "    from models import Device\n"),
    ("handlers", "from inventory import loans\nloans.open_loan(1)\nctx.dialog.update(a=1)\n"),
    ("notices", "from handlers import texts\nfrom handlers.fit import shorten\n"),
    ("jobs", "from inventory import reminders\nfrom notices import Delivery\n"),
])
def test_the_checker_allows_what_the_rules_allow(layer, source):
    assert violations(layer, source) == []


def test_jobs_may_reach_telegram_only_through_their_sender():
    assert violations("jobs", "from outbox.notifier import Notifier\n", "sender") == []
    assert violations("jobs", "from handlers import texts\n", "sender")


def test_the_reminder_job_loads_no_handler_and_no_telebot():
    """Importing the job (as the CronJob does) loads no handler module and no Telegram library."""
    code = ("import sys, jobs.reminders\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('telebot', 'bot', 'dispatch', 'outbox') or "
            "(m.startswith('handlers.') and m not in ('handlers.texts', 'handlers.fit')))\n"
            "print(','.join(bad))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == ""
