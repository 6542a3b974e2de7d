"""Configuration: every variable parsed, every problem reported at once, clean start-up errors."""

from __future__ import annotations

import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest

from config import TOKEN_HELP, ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent
TOKEN_ONLY = {"BOT_TOKEN": "123456:ABC-def_ghi"}
# The default REGISTRATION=approve needs ADMIN_IDS; cases about other variables use open.
GOOD = {**TOKEN_ONLY, "REGISTRATION": "open"}


def test_defaults():
    config = load_config(GOOD)
    assert config.database_url == "sqlite:///data/devtrack.db"
    assert config.telegram_api_url == "https://api.telegram.org"
    assert config.admin_ids == frozenset() and config.developer_ids == frozenset()
    assert config.categories[0] == "Онлайн-касса" and len(config.categories) == 7
    assert config.timezone == "Europe/Moscow" and config.reminder_time == time(10, 0)
    assert config.reminder_weekdays == frozenset(range(5))
    assert config.hold_hours == 24
    assert (config.log_file, config.log_level) == ("data/devtrack.log", "INFO")


def test_every_variable_is_read():
    config = load_config({
        **GOOD, "DATABASE_URL": "postgresql://u:p@db:5432/devtrack",
        "TELEGRAM_API_URL": "http://127.0.0.1:8081/", "ADMIN_IDS": "1, 2", "DEVELOPER_IDS": "3",
        "DEVELOPER_CODE": "code", "EMAIL_DOMAINS": "Company.ru, @corp.ru",
        "CATEGORIES": "Весы, Сканер", "TIMEZONE": "Asia/Yekaterinburg", "REMINDER_TIME": "9:30",
        "REMINDER_WEEKDAYS": "mon,wed-fri", "HOLD_HOURS": "48", "LOG_FILE": "/tmp/x.log",
        "LOG_LEVEL": "debug",
    })
    assert config.telegram_api_url == "http://127.0.0.1:8081"
    assert config.admin_ids == {1, 2} and config.developer_ids == {3}
    assert config.email_domains == ("company.ru", "corp.ru")
    assert config.categories == ("Весы", "Сканер")
    assert config.reminder_time == time(9, 30)
    assert config.reminder_weekdays == {0, 2, 3, 4}
    assert (config.hold_hours, config.log_level) == (48, "DEBUG")


def test_all_problems_reported_at_once_each_naming_its_variable():
    with pytest.raises(ConfigError) as info:
        load_config({"DATABASE_URL": "mysql://x", "ADMIN_IDS": "12,abc", "DEVELOPER_IDS": "5",
                     "TIMEZONE": "Mars/Olympus", "REMINDER_TIME": "25:00", "HOLD_HOURS": "-1",
                     "REMINDER_WEEKDAYS": "funday", "LOG_LEVEL": "LOUD"})
    problems = info.value.problems
    assert problems[0] == TOKEN_HELP
    for name in ("DATABASE_URL", "ADMIN_IDS", "DEVELOPER_CODE", "TIMEZONE", "REMINDER_TIME",
                 "HOLD_HOURS", "REMINDER_WEEKDAYS", "LOG_LEVEL"):
        assert any(p.startswith(name + ":") for p in problems), name


def test_token_never_in_repr():
    config = load_config({**GOOD, "DEVELOPER_IDS": "1", "DEVELOPER_CODE": "topsecret"})
    assert "ABC-def_ghi" not in repr(config) and "topsecret" not in repr(config)


def run_bot(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """Start bot.py in a clean environment (no .env) and capture its output."""
    # REGISTRATION=open: these cases are about other variables (approve would need ADMIN_IDS).
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LOG_FILE": str(tmp_path / "l.log"),
            "NO_PROXY": "*", "REGISTRATION": "open"}
    return subprocess.run([sys.executable, str(ROOT / "bot.py")], env={**base, **env},
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("env", "variable"), [
    ({}, "BOT_TOKEN"),
    ({**GOOD, "DATABASE_URL": "oracle://x"}, "DATABASE_URL"),
    ({**GOOD, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "DATABASE_URL"),
    ({**GOOD, "ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
    ({**GOOD, "REGISTRATION": "approve"}, "REGISTRATION"),
    ({**GOOD, "REGISTRATION": "email"}, "REGISTRATION"),
    ({**GOOD, "REGISTRATION": "maybe"}, "REGISTRATION"),
    ({**GOOD, "REGISTRATION": "email", "SMTP_URL": "http://mail"}, "SMTP_URL"),
    ({**GOOD, "REGISTRATION": "email", "SMTP_URL": "smtp://mail:25"}, "SMTP_FROM"),
])
def test_startup_problem_prints_one_line_and_exits_nonzero(tmp_path, env, variable):
    result = run_bot(env, tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_token_explains_botfather_and_env(tmp_path):
    result = run_bot({}, tmp_path)
    assert "@BotFather" in result.stderr and ".env" in result.stderr


def test_env_example_documents_every_variable():
    import re

    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    read = set(re.findall(r'get\("([A-Z_]+)"', (ROOT / "config.py").read_text()))
    read |= set(re.findall(r'"([A-Z_]+)"', (ROOT / "jobs" / "healthcheck.py").read_text())) & {
        "HEARTBEAT_FILE", "HEARTBEAT_MAX_AGE"}
    assert read <= documented, read - documented


def test_registration_defaults_follow_smtp():
    assert load_config({**TOKEN_ONLY, "ADMIN_IDS": "1"}).registration == "approve"
    config = load_config({**TOKEN_ONLY, "SMTP_URL": "smtp://bot%40c.ru:p%3Ass@mail.c.ru:587?starttls=1",
                          "SMTP_FROM": "devtrack@c.ru"})
    assert config.registration == "email"
    smtp = config.smtp
    assert (smtp.host, smtp.port, smtp.ssl, smtp.starttls) == ("mail.c.ru", 587, False, True)
    assert (smtp.user, smtp.password, smtp.sender) == ("bot@c.ru", "p:ss", "devtrack@c.ru")
    assert "p:ss" not in repr(config)
    ssl = load_config({**GOOD, "SMTP_URL": "smtps://mail.c.ru", "SMTP_FROM": "d@c.ru",
                       "REGISTRATION": "OPEN"})
    assert (ssl.smtp.port, ssl.smtp.ssl, ssl.registration) == (465, True, "open")


def test_approve_without_admins_is_fine_for_jobs():
    # The schema CLI and the jobs load the config without a token and answer no requests.
    assert load_config({}, require_token=False).registration == "approve"


@pytest.mark.parametrize(("raw", "days"), [
    ("sat-mon", {5, 6, 0}),
    ("fri-tue", {4, 5, 6, 0, 1}),
    ("7-1", {6, 0}),
    ("sun-sat", set(range(7))),
    ("mon-fri", set(range(5))),
    ("wed", {2}),
    ("mon, sat-sun", {0, 5, 6}),
])
def test_weekday_ranges_may_wrap_past_sunday(raw, days):
    assert load_config({**GOOD, "REMINDER_WEEKDAYS": raw}).reminder_weekdays == days


@pytest.mark.parametrize("raw", ["sat-xyz", "mon-tue-wed", "0-3", "8"])
def test_bad_weekday_ranges_name_the_variable(raw):
    with pytest.raises(ConfigError) as info:
        load_config({**GOOD, "REMINDER_WEEKDAYS": raw})
    assert info.value.problems == [
        f"REMINDER_WEEKDAYS: {raw!r} is not a weekday (mon..sun or 1..7)"]


def test_observability_variables():
    config = load_config({**GOOD, "LOG_FORMAT": "JSON", "METRICS_PORT": "9108",
                          "METRICS_TEXTFILE": "/var/lib/node-exporter/devtrack.prom"})
    assert (config.log_format, config.metrics_port) == ("json", 9108)
    assert config.metrics_textfile == "/var/lib/node-exporter/devtrack.prom"
    assert (load_config(GOOD).log_format, load_config(GOOD).metrics_port) == ("text", None)
    with pytest.raises(ConfigError) as info:
        load_config({**GOOD, "LOG_FORMAT": "xml", "METRICS_PORT": "70000"})
    assert [p.split(":")[0] for p in info.value.problems] == ["LOG_FORMAT", "METRICS_PORT"]
