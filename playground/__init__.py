"""The local playground: a Telegram Bot API emulator and a chat page to try devtrack without Telegram."""
