"""Standalone processes run beside the bot: reminders, health checks."""
