"""devtrack entry point: config → database → migrations → bot → long polling."""

from __future__ import annotations

import logging
import logging.handlers
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import peewee as pw
import requests
from telebot import apihelper, types

import handlers
from cli import EXIT_CONFIG, config_or_report, first_line
from config import Config
from dispatch import DevtrackBot
from handlers import admin_import, menus
from inventory import access
from inventory.devices import ensure_categories
from jobs.healthcheck import touch_heartbeat
from logformat import make_formatter
from models import db, init_db, utcnow
from outbox.botapi import configure_api_url
from outbox.transport import use_curl_sender
from schema import apply_migrations

logger = logging.getLogger("devtrack")

POLL_TIMEOUT = 10
# getMe retries while Telegram is unreachable: 1, 2, 4 ... seconds, at most a minute apart.
TOKEN_RETRY_FIRST, TOKEN_RETRY_MAX = 1.0, 60.0
# Telegram answers 401 to a revoked or mistyped token and 404 to one that is not a token at all.
TOKEN_REJECTED = (401, 404)


class StartupError(Exception):
    """A start-up problem that is reported as one line naming its variable."""


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
    return menus.user_commands()


def setup_commands(bot: DevtrackBot) -> None:
    """Publish command menus per role; a refusal is logged and start-up goes on."""
    config = bot.config
    admins = set(config.admin_ids)
    try:
        db.connect(reuse_if_open=True)
        admins.update(access.admin_chat_ids(config.admin_ids))
    except pw.DatabaseError as exc:
        logger.warning("could not read the admins for their menus: %s", exc)
    finally:
        db.close()
    menu_list: list[tuple[list[types.BotCommand], types.BotCommandScope]] = [
        (user_commands(), types.BotCommandScopeDefault())
    ]
    for chat_id in sorted(admins | config.developer_ids):
        commands = menus.commands_for(admin=chat_id in admins,
                                      developer=chat_id in config.developer_ids)
        menu_list.append((commands, types.BotCommandScopeChat(chat_id)))
    for commands, scope in menu_list:
        menus.publish(bot, commands, scope)


def open_log_file(path: str) -> logging.Handler:
    """The rotating LOG_FILE handler; StartupError naming LOG_FILE if it cannot be written."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return logging.handlers.RotatingFileHandler(
            path, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8"
        )
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StartupError(f"LOG_FILE: cannot write {path}: {reason}") from exc


def setup_logging(config: Config) -> None:
    """Log to stdout and to a rotating LOG_FILE, never showing the token or the code."""
    # Opened first: an unwritable LOG_FILE must leave the logging set-up untouched.
    rotating = open_log_file(config.log_file)
    fmt = make_formatter(config)
    root = logging.getLogger()
    root.setLevel(config.log_level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(fmt)
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


def tell_interrupted_work(bot: DevtrackBot) -> None:
    """Before polling: tell admins whose import a restart cut off (it was rolled back)."""
    db.connect(reuse_if_open=True)
    try:
        admin_import.tell_interrupted(bot)
    except Exception:  # noqa: BLE001 - a start-up courtesy must not stop the bot
        logger.exception("could not tell about interrupted imports")
    finally:
        db.close()


def check_token(bot: DevtrackBot, stop: threading.Event) -> bool:
    """getMe until it answers; caches the bot user. False if stopped meanwhile.

    A token Telegram rejects raises StartupError naming BOT_TOKEN. While Telegram cannot be
    reached (network, 5xx, 429) it retries with backoff and says so once, not on every attempt.
    """
    delay = TOKEN_RETRY_FIRST
    waiting = False
    while not stop.is_set():
        try:
            # TeleBot.user caches getMe in _user: set it so handlers reading bot.user.username
            # never make a second call.
            bot._user = bot.get_me()  # type: ignore[assignment]  # telebot types _user as None
        except apihelper.ApiTelegramException as exc:
            if exc.error_code in TOKEN_REJECTED:
                raise StartupError(
                    f"BOT_TOKEN: Telegram rejected the token ({exc.error_code} "
                    f"{exc.description}); copy it again from @BotFather") from exc
            problem = f"{exc.error_code} {exc.description}"
        except (apihelper.ApiHTTPException, requests.RequestException) as exc:
            problem = type(exc).__name__
        else:
            if waiting:
                logger.info("reached Telegram at %s", bot.config.telegram_api_url)
            logger.info("logged in as @%s", bot.user.username)
            return True
        if not waiting:
            logger.warning("cannot reach Telegram at %s (%s); retrying with backoff until it "
                           "answers", bot.config.telegram_api_url, problem)
            waiting = True
        stop.wait(delay)
        delay = min(delay * 2, TOKEN_RETRY_MAX)
    return False


def run(config: Config, stop: threading.Event | None = None) -> int:
    """Run the bot until SIGTERM/SIGINT (or `stop`), then shut down cleanly."""
    use_curl_sender()  # Bot API calls through libcurl: see outbox/transport.py
    bot = create_bot(config)
    bot.on_poll.append(lambda: touch_heartbeat(config.heartbeat_file))
    stop = stop or threading.Event()
    if config.metrics_port:
        try:
            bot.enable_metrics().serve(config.metrics_port)
        except OSError as exc:
            bot.shutdown()
            raise StartupError(f"METRICS_PORT: cannot listen on port {config.metrics_port}: "
                               f"{exc.strerror or exc}") from exc

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("signal %s: stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    if not check_token(bot, stop):
        logger.info("devtrack stopped before it could reach Telegram")
        return 0
    setup_commands(bot)
    tell_interrupted_work(bot)
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
    """Start the bot; configuration problems print one line each and exit 2."""
    config = config_or_report("devtrack", environ)
    if config is None:
        return EXIT_CONFIG
    try:
        setup_logging(config)
    except StartupError as err:
        print(f"devtrack: {err}", file=sys.stderr)
        return 2
    try:
        prepare_database(config)
    except (pw.DatabaseError, OSError) as exc:
        print(f"devtrack: DATABASE_URL: cannot open the database: {first_line(exc)}",
              file=sys.stderr)
        return 1
    try:
        return run(config)
    except StartupError as err:
        print(f"devtrack: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
