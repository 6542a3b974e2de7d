"""Logging goes to stdout and the rotating LOG_FILE, and never shows the token or the code."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot import setup_logging


def test_secrets_are_redacted_in_file_and_stdout(config, tmp_path, capsys, restore_logging):
    config = replace(config, log_file=str(tmp_path / "logs" / "bot.log"))
    setup_logging(config)
    log = logging.getLogger("devtrack.test")
    log.error("GET https://api.telegram.org/bot%s/getMe failed", config.bot_token)
    try:
        raise RuntimeError(f"code was {config.developer_code}")
    except RuntimeError:
        log.exception("boom")
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = (tmp_path / "logs" / "bot.log").read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    for output in (written, printed):
        assert "getMe failed" in output and "boom" in output
        assert config.bot_token not in output and config.developer_code not in output
        assert "/bot***/getMe" in output


def test_smtp_password_is_redacted(config, tmp_path, capsys, restore_logging):
    from config import SmtpSettings

    smtp = SmtpSettings(host="mail", port=587, user="bot", password="pa55-w0rd", sender="d@c.ru")
    config = replace(config, log_file=str(tmp_path / "bot.log"), smtp=smtp)
    setup_logging(config)
    logging.getLogger("devtrack.test").error("login failed for bot:%s", smtp.password)
    for handler in logging.getLogger().handlers:
        handler.flush()
    for output in ((tmp_path / "bot.log").read_text(encoding="utf-8"), capsys.readouterr().out):
        assert "login failed for bot:***" in output and "pa55-w0rd" not in output
