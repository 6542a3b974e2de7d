"""The reminder job's way to Telegram: the Notifier's rules on a bare Bot API client.

No handler is registered and nothing polls: the job only sends. `jobs/` reaches Telegram
through this module alone.
"""

from __future__ import annotations

from telebot import TeleBot

from config import Config
from outbox.botapi import configure_api_url
from outbox.notifier import Notifier


def telegram_sender(config: Config) -> Notifier:
    """Send on TELEGRAM_API_URL at REMINDER_RATE, with the bot's retry and 403 rules."""
    configure_api_url(config.telegram_api_url)
    client = TeleBot(config.bot_token, parse_mode="HTML", threaded=False)
    return Notifier(client, rate=config.reminder_rate)
