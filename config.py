"""Configuration: every environment variable devtrack reads, validated in one place."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from urllib.parse import parse_qs, unquote, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from models import make_database

logger = logging.getLogger(__name__)

DEFAULT_CATEGORIES = (
    "Онлайн-касса, Фискальный регистратор, Терминал эквайринга, Весы, Принтер кухонный, "
    "Планшет, Сканер"
)
TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
REGISTRATION_MODES = ("email", "approve", "open")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TOKEN_HELP = (
    "BOT_TOKEN is not set. Get a token from @BotFather in Telegram (send /newbot), then put "
    "BOT_TOKEN=<token> into the .env file next to bot.py (copy .env.example to .env) "
    "or export it in the environment."
)


class ConfigError(Exception):
    """Configuration problems, each naming its variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class SmtpSettings:
    """Where registration codes are mailed from: parsed SMTP_URL plus SMTP_FROM."""

    host: str
    port: int
    ssl: bool = False
    starttls: bool = False
    user: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""


@dataclass(frozen=True)
class Config:
    """Validated settings of one bot process."""

    bot_token: str = field(repr=False)
    database_url: str = field(default="sqlite:///data/devtrack.db", repr=False)
    telegram_api_url: str = "https://api.telegram.org"
    admin_ids: frozenset[int] = frozenset()
    developer_ids: frozenset[int] = frozenset()
    developer_code: str = field(default="", repr=False)
    email_domains: tuple[str, ...] = ()
    categories: tuple[str, ...] = tuple(c.strip() for c in DEFAULT_CATEGORIES.split(","))
    timezone: str = "Europe/Moscow"
    reminder_time: time = time(10, 0)
    reminder_weekdays: frozenset[int] = frozenset(range(5))
    hold_hours: int = 24
    log_file: str = "data/devtrack.log"
    log_level: str = "INFO"
    heartbeat_file: str = "data/heartbeat"
    reminder_rate: float = 25.0
    workers: int = 4
    legacy_database_url: str = field(default="", repr=False)
    # email | approve | open: how a newcomer proves who they are (see README).
    registration: str = "approve"
    smtp: SmtpSettings | None = field(default=None, repr=False)
    log_format: str = "text"
    metrics_port: int | None = None
    metrics_textfile: str = ""

    @property
    def secrets(self) -> list[str]:
        """Every secret that must never reach a log line (empty ones left out)."""
        try:
            legacy_password = unquote(urlparse(self.legacy_database_url).password or "")
        except ValueError:
            legacy_password = ""
        smtp_password = self.smtp.password if self.smtp else ""
        return [s for s in (self.bot_token, self.developer_code, smtp_password, legacy_password)
                if s]

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)

    def is_bootstrap_admin(self, telegram_id: int) -> bool:
        """Whether this Telegram id is an admin by ADMIN_IDS (inventory.access.is_admin decides)."""
        return telegram_id in self.admin_ids

    def is_developer(self, telegram_id: int) -> bool:
        """Whether this Telegram id is a developer."""
        return telegram_id in self.developer_ids


def _ids(name: str, raw: str, problems: list[str]) -> frozenset[int]:
    """Parse a comma-separated list of Telegram ids."""
    ids = set()
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not re.fullmatch(r"-?\d+", part):
            problems.append(f"{name}: {part!r} is not a numeric Telegram user id")
            continue
        ids.add(int(part))
    return frozenset(ids)


def _weekdays(raw: str, problems: list[str]) -> frozenset[int]:
    """Parse REMINDER_WEEKDAYS: names (mon..sun), numbers 1-7, ranges (1-5, sat-mon wraps)."""
    days: set[int] = set()
    for part in raw.lower().replace(" ", "").split(","):
        if not part:
            continue
        bounds = part.split("-")
        try:
            nums = [
                WEEKDAY_NAMES.index(b[:3]) if b[:3] in WEEKDAY_NAMES else int(b) - 1
                for b in bounds
            ]
        except ValueError:
            nums = [-1]
        if len(nums) > 2 or any(n not in range(7) for n in nums):
            problems.append(f"REMINDER_WEEKDAYS: {part!r} is not a weekday (mon..sun or 1..7)")
            continue
        first, last = nums[0], nums[-1]
        # A range whose end comes before its start runs on past Sunday: sat-mon = sat, sun, mon.
        days.update((first + k) % 7 for k in range((last - first) % 7 + 1))
    if not days and not any(p.startswith("REMINDER_WEEKDAYS") for p in problems):
        problems.append("REMINDER_WEEKDAYS: no weekday given")
    return frozenset(days)


def _positive(name: str, raw: str, problems: list[str], kind: type = int) -> float:
    """Parse a positive number."""
    try:
        value = kind(raw)
    except ValueError:
        problems.append(f"{name}: {raw!r} is not a number")
        return 0
    if value <= 0:
        problems.append(f"{name}: must be greater than zero, got {raw!r}")
    return value


def parse_smtp_url(raw: str, sender: str, problems: list[str]) -> SmtpSettings | None:
    """SMTP_URL: smtp://user:pass@host:587?starttls=1 or smtps://user:pass@host:465."""
    parsed = urlparse(raw)
    if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
        problems.append("SMTP_URL: expected smtp://user:pass@host:587?starttls=1 "
                        "or smtps://user:pass@host:465")
        return None
    try:
        port = parsed.port or (465 if parsed.scheme == "smtps" else 587)
    except ValueError:
        problems.append("SMTP_URL: the port is not a number")
        return None
    query = parse_qs(parsed.query)
    starttls = (query.get("starttls") or ["0"])[0].lower()
    if starttls not in ("0", "1", "true", "false", "yes", "no"):
        problems.append(f"SMTP_URL: starttls={starttls!r} must be 1 or 0")
        return None
    if not sender or not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", sender):
        problems.append("SMTP_FROM: required with SMTP_URL: the address codes are sent from, "
                        "e.g. devtrack@company.ru")
        return None
    return SmtpSettings(
        host=parsed.hostname, port=port, ssl=parsed.scheme == "smtps",
        starttls=starttls in ("1", "true", "yes"),
        user=unquote(parsed.username or ""), password=unquote(parsed.password or ""),
        sender=sender,
    )
def _port(name: str, raw: str, problems: list[str]) -> int | None:
    """Parse an optional TCP port; empty means off."""
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        problems.append(f"{name}: {raw!r} is not a TCP port (1-65535), or leave it empty")
        return None
    return int(raw)


def _check_token(token: str, required: bool, problems: list[str]) -> None:
    """BOT_TOKEN: present when required, shaped like @BotFather's."""
    if not token and required:
        problems.append(TOKEN_HELP)
    elif token and not TOKEN_RE.match(token):
        problems.append("BOT_TOKEN: does not look like a token from @BotFather (123456:ABC-...)")


def _check_database_url(url: str, problems: list[str]) -> None:
    """DATABASE_URL: a database peewee can open."""
    try:
        make_database(url)
    except ValueError as exc:
        problems.append(f"DATABASE_URL: {exc} (postgresql://user:pass@host:5432/db "
                        "or sqlite:///data/devtrack.db)")


def _reminder_time(raw: str, problems: list[str]) -> time:
    """REMINDER_TIME as HH:MM (10:00 after a problem)."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", raw)
    if match and int(match[1]) < 24 and int(match[2]) < 60:
        return time(int(match[1]), int(match[2]))
    problems.append(f"REMINDER_TIME: {raw!r} is not a time like 10:00")
    return time(10, 0)


def _check_registration(mode: str, smtp: bool, approvers: bool, problems: list[str]) -> None:
    """REGISTRATION: a known mode with what it needs (approvers: ADMIN_IDS, or not the bot)."""
    if mode not in REGISTRATION_MODES:
        problems.append(f"REGISTRATION: {mode!r} is not one of email, approve, open")
    elif mode == "email" and not smtp:
        problems.append("REGISTRATION: email needs SMTP_URL and SMTP_FROM to send the codes "
                        "(or use approve)")
    elif mode == "approve" and not approvers:
        # Only the bot itself needs someone to answer requests; jobs and the schema CLI do not.
        problems.append("REGISTRATION: approve needs ADMIN_IDS, the admins who answer the "
                        "requests (or set SMTP_URL for email codes, or REGISTRATION=open)")


def _check_legacy_url(url: str, problems: list[str]) -> None:
    """LEGACY_DATABASE_URL: empty, or the predecessor's PostgreSQL URL."""
    if url and not re.match(r"^postgres(ql)?://[^/\s]*/[^/\s?]+", url):
        problems.append("LEGACY_DATABASE_URL: expected postgresql://user:password@host:5432/db "
                        "(the predecessor bot's database)")


def _check_logging(level: str, fmt: str, problems: list[str]) -> None:
    """LOG_LEVEL and LOG_FORMAT: known values."""
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        problems.append(f"LOG_LEVEL: {level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    if fmt not in ("text", "json"):
        problems.append(f"LOG_FORMAT: {fmt!r} is not text or json")


def load_config(environ: Mapping[str, str], *, require_token: bool = True) -> Config:
    """Build a Config from environment variables, reporting every problem at once."""
    problems: list[str] = []

    def get(name: str, default: str = "") -> str:
        return (environ.get(name) or default).strip()

    token = get("BOT_TOKEN")
    _check_token(token, require_token, problems)
    database_url = get("DATABASE_URL", "sqlite:///data/devtrack.db")
    _check_database_url(database_url, problems)
    api_url = get("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/")
    if not re.match(r"^https?://[^/\s]+", api_url):
        problems.append(f"TELEGRAM_API_URL: {api_url!r} is not an http(s) URL")

    admin_ids = _ids("ADMIN_IDS", get("ADMIN_IDS"), problems)
    developer_ids = _ids("DEVELOPER_IDS", get("DEVELOPER_IDS"), problems)
    developer_code = get("DEVELOPER_CODE")
    if developer_ids and not developer_code:
        problems.append("DEVELOPER_CODE: required when DEVELOPER_IDS is set")

    domains = tuple(
        d.strip().lower().lstrip("@") for d in get("EMAIL_DOMAINS").split(",") if d.strip()
    )
    categories = tuple(
        c.strip() for c in get("CATEGORIES", DEFAULT_CATEGORIES).split(",") if c.strip()
    )

    tz_name = get("TIMEZONE", "Europe/Moscow")
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"TIMEZONE: unknown time zone {tz_name!r} (e.g. Europe/Moscow)")

    reminder_time = _reminder_time(get("REMINDER_TIME", "10:00"), problems)

    weekdays = _weekdays(get("REMINDER_WEEKDAYS", "mon-fri"), problems)
    hold_hours = int(_positive("HOLD_HOURS", get("HOLD_HOURS", "24"), problems))
    rate = float(_positive("REMINDER_RATE", get("REMINDER_RATE", "25"), problems, float))

    legacy_url = get("LEGACY_DATABASE_URL")
    _check_legacy_url(legacy_url, problems)
    smtp_raw = get("SMTP_URL")
    smtp = parse_smtp_url(smtp_raw, get("SMTP_FROM"), problems) if smtp_raw else None
    registration = get("REGISTRATION", "email" if smtp_raw else "approve").lower()
    _check_registration(registration, bool(smtp_raw), bool(admin_ids) or not require_token,
                        problems)

    log_level = get("LOG_LEVEL", "INFO").upper()
    log_format = get("LOG_FORMAT", "text").lower()
    _check_logging(log_level, log_format, problems)

    metrics_port = _port("METRICS_PORT", get("METRICS_PORT"), problems)

    if problems:
        raise ConfigError(problems)
    return Config(
        bot_token=token,
        database_url=database_url,
        telegram_api_url=api_url,
        admin_ids=admin_ids,
        developer_ids=developer_ids,
        developer_code=developer_code,
        email_domains=domains,
        categories=categories,
        timezone=tz_name,
        reminder_time=reminder_time,
        reminder_weekdays=weekdays,
        hold_hours=hold_hours,
        log_file=get("LOG_FILE", "data/devtrack.log"),
        log_level=log_level,
        heartbeat_file=get("HEARTBEAT_FILE", "data/heartbeat"),
        reminder_rate=rate,
        legacy_database_url=legacy_url,
        registration=registration,
        smtp=smtp,
        log_format=log_format,
        metrics_port=metrics_port,
        metrics_textfile=get("METRICS_TEXTFILE"),
    )
