"""The local playground: a Bot API emulator and a chat page to try devtrack without Telegram."""
