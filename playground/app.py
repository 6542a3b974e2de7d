"""The playground process: the emulator and page, and the real bot polling it, side by side."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from bot import POLL_TIMEOUT, create_bot, prepare_database, setup_commands, setup_logging
from config import Config, load_config
from dispatch import DevtrackBot
from inventory import backup
from inventory.clock import local_date
from jobs import reminders as reminder_job
from models import db, utcnow
from playground.identities import ADMIN, DEVELOPER, DEVELOPER_CODE
from playground.seed import seed
from playground.web import Actions, PlaygroundAPI

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"  # never another interface: the playground has no authentication
DEFAULT_PORT = 8080
BOT_USERNAME = "devtrack_playground_bot"
FAKE_TOKEN = "123456:PLAYGROUND-not-a-real-token"
PASSED_THROUGH = ("TIMEZONE", "LOG_LEVEL", "HOLD_HOURS", "CATEGORIES")


def playground_env(api_url: str, data_dir: Path,
                   environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The bot's environment: the emulator, data/playground.db, the playground's people."""
    source = os.environ if environ is None else environ
    env = {name: source[name] for name in PASSED_THROUGH if source.get(name)}
    env.update({
        "BOT_TOKEN": FAKE_TOKEN,
        "TELEGRAM_API_URL": api_url,
        "DATABASE_URL": f"sqlite:///{data_dir / 'playground.db'}",
        "ADMIN_IDS": str(ADMIN.user_id),
        "DEVELOPER_IDS": str(DEVELOPER.user_id),
        "DEVELOPER_CODE": DEVELOPER_CODE,
        "REGISTRATION": "open",
        # Every day is a reminder day here, so the button shows something on a Sunday too.
        "REMINDER_WEEKDAYS": "mon-sun",
        "LOG_FILE": str(data_dir / "playground.log"),
        "HEARTBEAT_FILE": str(data_dir / "playground-heartbeat"),
    })
    return env


class Playground:
    """Starts, resets and stops the emulator, the page and the bot of one playground."""

    def __init__(self, *, data_dir: Path, port: int = DEFAULT_PORT, delay: float = 0.0) -> None:
        """Configure; nothing runs before start()."""
        self.data_dir = data_dir
        self.api = PlaygroundAPI(host=HOST, port=port, delay=delay, bot_username=BOT_USERNAME,
                                 actions=Actions(reset=self.reset, reminders=self.reminders))
        self.config: Config | None = None
        self.bot: DevtrackBot | None = None
        self._poller: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The page's address."""
        return self.api.base_url

    @property
    def db_path(self) -> Path:
        """The playground's own database file (never the real one)."""
        return self.data_dir / "playground.db"

    def start(self, *, logs: bool = True) -> Playground:
        """Serve the page, prepare (and on first run seed) the database, start the bot."""
        # requests must reach the emulator directly, whatever proxy the shell has configured.
        for name in ("NO_PROXY", "no_proxy"):
            hosts = [h for h in os.environ.get(name, "").split(",") if h]
            os.environ[name] = ",".join(dict.fromkeys([*hosts, "127.0.0.1", "localhost"]))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.api.start()
        self.config = config = load_config(playground_env(self.api.base_url, self.data_dir))
        fresh = not self.db_path.exists()
        prepare_database(config)
        if fresh:
            self._seed()
        if logs:  # after the seed: its forty audit lines would bury the address
            setup_logging(config)
        self.bot = create_bot(config)
        setup_commands(self.bot)
        self._poller = threading.Thread(
            target=self.bot.infinity_polling,
            kwargs={"timeout": POLL_TIMEOUT + 10, "long_polling_timeout": POLL_TIMEOUT,
                    "logger_level": logging.ERROR,
                    "allowed_updates": ["message", "callback_query"]},
            name="polling", daemon=True,
        )
        self._poller.start()
        logger.info("playground started at %s", self.url)
        return self

    def stop(self) -> None:
        """Stop the bot (letting updates in progress finish), then the server."""
        if self.bot is not None:
            self.bot.shutdown()
        self.api.stop()
        if self._poller is not None:
            self._poller.join(timeout=POLL_TIMEOUT + 5)
        db.close()

    def _seed(self) -> None:
        """Write the sample office (the database is migrated and empty)."""
        assert self.config is not None
        now = utcnow()
        db.connect(reuse_if_open=True)
        try:
            seed(self.config.categories, now, local_date(now, self.config))
        finally:
            db.close()

    def reset(self) -> str:
        """Keep a dump of the playground, empty it, seed it again and clear every chat."""
        with self._lock:
            db.connect(reuse_if_open=True)
            try:
                dump = backup.make_dump(db.obj, utcnow())
                kept = self.data_dir / "playground-backups" / dump.file_name
                kept.parent.mkdir(parents=True, exist_ok=True)
                kept.write_bytes(dump.data)  # nothing is lost, not even playground data
                backup.wipe(db.obj)
            finally:
                db.close()
            self._seed()
            self.api.forget_chats()
        logger.info("playground reset; the previous data is in %s", kept)
        return f"The sample inventory is back; every chat is empty. Previous data: {kept}"

    def reminders(self, now: datetime | None = None) -> str:
        """Run the real reminder job once, sending through the emulator; return its report."""
        assert self.config is not None and self.bot is not None
        with self._lock:
            moment = now or utcnow()
            db.connect(reuse_if_open=True)
            try:
                report = reminder_job.run(local_date(moment, self.config),
                                          reminder_job.telegram_sender(self.config),
                                          self.config, moment)
            finally:
                db.close()
        logger.info("playground reminders: %s", report.line())
        return report.line()
