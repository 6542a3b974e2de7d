"""Local time: the database keeps naive UTC; people see the configured zone (TIMEZONE)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from config import Config


def local_time(moment: datetime, config: Config) -> datetime:
    """A naive-UTC moment as an aware datetime in the configured zone."""
    return moment.replace(tzinfo=UTC).astimezone(config.tz)


def local_date(moment: datetime, config: Config) -> date:
    """The calendar date of a naive-UTC moment in the configured zone."""
    return local_time(moment, config).date()
