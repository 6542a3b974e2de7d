"""Sending through Telegram's Bot API, shared by the bot and the reminder job (uses telebot)."""
