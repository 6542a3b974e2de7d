"""Domain layer of devtrack: plain functions over the models, no Telegram imports."""
