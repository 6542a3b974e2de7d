"""Log formatters: plain text or one JSON object per line (LOG_FORMAT), both redacting secrets.

The bot and the reminder job use the same formatters, so no secret of the configuration (the
token, DEVELOPER_CODE, the SMTP and legacy database passwords) reaches a log line.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from config import Config

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


class RedactingFormatter(logging.Formatter):
    """Formats records and blanks out secrets (the token appears in Bot API URLs)."""

    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt)
        self.secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        """Blank out every secret."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def format(self, record: logging.LogRecord) -> str:
        """Format, then redact."""
        return self.redact(super().format(record))


class JsonFormatter(RedactingFormatter):
    """LOG_FORMAT=json: one JSON object per line, secrets blanked out of every string field."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__("%(message)s", secrets)

    def format(self, record: logging.LogRecord) -> str:
        """Serialise the record; redaction happens before JSON escaping could hide a secret."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "thread": record.threadName,
            "message": self.redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def make_formatter(config: Config, text_format: str = TEXT_FORMAT) -> logging.Formatter:
    """The formatter LOG_FORMAT asks for, both redacting every secret of the configuration."""
    secrets = config.secrets
    if config.log_format == "json":
        return JsonFormatter(secrets)
    return RedactingFormatter(text_format, secrets)

