"""devtrack entry point: config → database → migrations → bot → long polling."""

from __future__ import annotations

import logging
import logging.handlers
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import peewee as pw
from dotenv import load_dotenv
from telebot import apihelper, types

import handlers
from config import Config, ConfigError, load_config
from dispatch import DevtrackBot
from handlers import texts
from inventory.devices import ensure_categories
from jobs.healthcheck import touch_heartbeat
from models import db, init_db, utcnow
from schema import apply_migrations

logger = logging.getLogger("devtrack")

POLL_TIMEOUT = 10


def configure_api_url(base_url: str) -> None:
    """Point pyTelegramBotAPI at a Bot API server (the real one, self-hosted or a test fake)."""
    base = base_url.rstrip("/")
    apihelper.API_URL = base + "/bot{0}/{1}"
    apihelper.FILE_URL = base + "/file/bot{0}/{1}"


def create_bot(
    config: Config, *, threaded: bool = True, clock: Callable[[], datetime] = utcnow
) -> DevtrackBot:
    """Build a bot with every handler and the middleware wired."""
    configure_api_url(config.telegram_api_url)
    bot = DevtrackBot(config, threaded=threaded, clock=clock)
    handlers.register_all(bot)
    return bot


def user_commands() -> list[types.BotCommand]:
    """The menu everyone sees."""
    return [
        types.BotCommand("all", texts.CMD_ALL),
        types.BotCommand("categories", texts.CMD_CATEGORIES),
        types.BotCommand("mine", texts.CMD_MINE),
        types.BotCommand("wishlist", texts.CMD_WISHLIST),
        types.BotCommand("cancel", texts.CMD_CANCEL),
        types.BotCommand("help", texts.CMD_HELP),
    ]


def setup_commands(bot: DevtrackBot) -> None:
    """Publish command menus per role; a refusal is logged and start-up goes on."""
    config = bot.config
    admin_extra = [types.BotCommand("add", texts.CMD_ADD), types.BotCommand("edit", texts.CMD_EDIT),
                   types.BotCommand("users", texts.CMD_USERS),
                   types.BotCommand("labels", texts.CMD_LABELS),
                   types.BotCommand("export", texts.CMD_EXPORT)]
    dev_extra = [types.BotCommand("dev", texts.CMD_DEV)]
    menus: list[tuple[list[types.BotCommand], types.BotCommandScope]] = [
        (user_commands(), types.BotCommandScopeDefault())
    ]
    for chat_id in sorted(config.admin_ids | config.developer_ids):
        commands = user_commands()
        if chat_id in config.admin_ids:
            commands += admin_extra
        if chat_id in config.developer_ids:
            commands += dev_extra
        menus.append((commands, types.BotCommandScopeChat(chat_id)))
    for commands, scope in menus:
        try:
            bot.set_my_commands(commands, scope=scope)
        except Exception as exc:  # noqa: BLE001 - a menu is a convenience, never a reason to stop
            logger.warning("could not set the command menu (%s): %s", scope.type, exc)


class RedactingFormatter(logging.Formatter):
    """Formats records and blanks out secrets (the token appears in Bot API URLs)."""

    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt)
        self.secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        """Format, then redact."""
        text = super().format(record)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def setup_logging(config: Config) -> None:
    """Log to stdout and to a rotating LOG_FILE, never showing the token or the code."""
    Path(config.log_file).parent.mkdir(parents=True, exist_ok=True)
    fmt = RedactingFormatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s",
                             [config.bot_token, config.developer_code])
    root = logging.getLogger()
    root.setLevel(config.log_level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(fmt)
    rotating = logging.handlers.RotatingFileHandler(
        config.log_file, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8"
    )
    rotating.setFormatter(fmt)
    root.addHandler(stream)
    root.addHandler(rotating)
    # requests/urllib3 at DEBUG would print URLs that contain the token.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # pyTelegramBotAPI adds its own stderr handler; our handlers already get its records.
    telebot_logger = logging.getLogger("TeleBot")
    for handler in list(telebot_logger.handlers):
        telebot_logger.removeHandler(handler)


def prepare_database(config: Config) -> None:
    """Open the database, apply pending migrations and seed the categories."""
    if config.database_url.startswith("sqlite:///"):
        Path(config.database_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    database = init_db(config.database_url)
    database.connect(reuse_if_open=True)
    try:
        apply_migrations(database)
        ensure_categories(config.categories, utcnow())
    finally:
        database.close()


def run(config: Config, stop: threading.Event | None = None) -> int:
    """Run the bot until SIGTERM/SIGINT (or `stop`), then shut down cleanly."""
    bot = create_bot(config)
    bot.on_poll.append(lambda: touch_heartbeat(config.heartbeat_file))
    setup_commands(bot)
    stop = stop or threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("signal %s: stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    poller = threading.Thread(
        target=bot.infinity_polling,
        kwargs={"timeout": POLL_TIMEOUT + 10, "long_polling_timeout": POLL_TIMEOUT,
                "logger_level": logging.ERROR,
                "allowed_updates": ["message", "callback_query"]},
        name="polling",
        daemon=True,  # a pending long poll must not hold up the exit
    )
    poller.start()
    logger.info("devtrack started")
    while not stop.wait(0.5):
        if not poller.is_alive():
            logger.error("polling stopped unexpectedly")
            return 1
    bot.shutdown()
    db.close()
    logger.info("devtrack stopped")
    return 0


def main(environ: Mapping[str, str] | None = None) -> int:
    """Start the bot; configuration problems print one line each and exit 1."""
    load_dotenv()
    try:
        config = load_config(os.environ if environ is None else environ)
    except ConfigError as err:
        for problem in err.problems:
            print(f"devtrack: {problem}", file=sys.stderr)
        return 2
    setup_logging(config)
    try:
        prepare_database(config)
    except (pw.DatabaseError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"devtrack: DATABASE_URL: cannot open the database: {first_line}", file=sys.stderr)
        return 1
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
