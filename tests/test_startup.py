"""Start-up fails loudly: a rejected token, an unwritable LOG_FILE; Telegram down is retried."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from e2e import ROOT, TOKEN, bot_env, running_bot, say

import bot as bot_module
from handlers import texts
from playground.botapi import BOT_USERNAME, FakeBotAPI

USER = 4343


@pytest.fixture
def api(monkeypatch):
    """A running fake Bot API that accepts only the test token."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeBotAPI(token=TOKEN) as server:
        yield server


def start_bot(env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run bot.py to its end and capture its output."""
    return subprocess.run([sys.executable, str(ROOT / "bot.py")], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_rejected_token_is_one_line_naming_bot_token(api, tmp_path):
    """The fake Bot API answers 401 to getMe: one line on stderr, exit non-zero, no polling."""
    env = bot_env(api, tmp_path, BOT_TOKEN="654321:wrong-token")
    result = start_bot(env, tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "BOT_TOKEN" in lines[0] and "401" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert "wrong-token" not in result.stderr + result.stdout
    methods = [call.method for call in api.calls()]
    assert methods == ["getMe"], "nothing may be called after a rejected getMe"
    assert api.calls("getMe")[0].status == 401
    assert "devtrack started" not in (tmp_path / "bot.log").read_text()


@pytest.mark.slow
def test_telegram_down_at_start_is_retried_and_said_once(api, tmp_path):
    """Three 502 answers to getMe: the bot waits with backoff, logs it once, then polls."""
    api.fail_next("getMe", status=502, times=3)
    started = time.monotonic()
    with running_bot(api, tmp_path) as process:
        assert say(api, USER, "/start").ok
        assert process.poll() is None
    elapsed = time.monotonic() - started
    get_me = api.calls("getMe")
    assert [c.status for c in get_me] == [502, 502, 502, 200]
    gaps = [b.time - a.time for a, b in zip(get_me, get_me[1:], strict=False)]
    assert gaps[1] > gaps[0] * 1.5, f"no backoff between attempts: {gaps}"
    assert elapsed > sum(bot_module.TOKEN_RETRY_FIRST * 2 ** k for k in range(3))
    log = (tmp_path / "bot.log").read_text()
    assert log.count("cannot reach Telegram") == 1
    assert "reached Telegram" in log and f"logged in as @{BOT_USERNAME}" in log
    assert api.calls("getMe")[-1].index < api.calls("getUpdates")[0].index


def test_check_token_caches_the_bot_user(api, config):
    """After the check, bot.user needs no second getMe (other handlers read bot.user.username)."""
    bot = bot_module.create_bot(replace(config, bot_token=TOKEN,
                                        telegram_api_url=api.base_url), threaded=False)
    assert bot_module.check_token(bot, threading.Event())
    assert bot.user.username == BOT_USERNAME
    assert len(api.calls("getMe")) == 1


def test_check_token_gives_up_when_stopped(api, config):
    """A stop during the retries ends the check without an error."""
    api.fail_next("getMe", status=503, times=100)
    bot = bot_module.create_bot(replace(config, bot_token=TOKEN,
                                        telegram_api_url=api.base_url), threaded=False)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    assert bot_module.check_token(bot, stop) is False


@pytest.mark.parametrize("where", ["under_a_file", "a_directory"])
def test_unwritable_log_file_is_one_line(tmp_path, where):
    """LOG_FILE that cannot be opened: one line naming LOG_FILE, no traceback, exit non-zero."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    path = blocker / "devtrack.log" if where == "under_a_file" else tmp_path
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "BOT_TOKEN": TOKEN,
           "LOG_FILE": str(path), "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
           "TELEGRAM_API_URL": "http://127.0.0.1:9", "NO_PROXY": "*", "REGISTRATION": "open"}
    result = start_bot(env, tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("devtrack: LOG_FILE:") and str(path) in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "bot.db").exists(), "nothing may start after a bad LOG_FILE"


def test_json_logs_are_one_object_per_line_and_redacted(config, tmp_path, capsys,
                                                        restore_logging):
    """LOG_FORMAT=json: every line parses, fields are there, token and code are blanked."""
    config = replace(config, log_file=str(tmp_path / "j.log"), log_format="json",
                     developer_code='co"de\\ж')
    bot_module.setup_logging(config)
    log = logging.getLogger("devtrack.test")
    log.warning("GET /bot%s/getMe failed for «%s»", config.bot_token, config.developer_code)
    try:
        raise RuntimeError(f"multi\nline {config.developer_code}")
    except RuntimeError:
        log.exception("boom %s", texts.e("<b>"))
    for handler in logging.getLogger().handlers:
        handler.flush()
    for output in ((tmp_path / "j.log").read_text(encoding="utf-8"), capsys.readouterr().out):
        lines = output.splitlines()
        assert len(lines) == 2, output
        first, second = (json.loads(line) for line in lines)
        assert first["level"] == "WARNING" and first["logger"] == "devtrack.test"
        assert first["message"] == "GET /bot***/getMe failed for «***»"
        assert first["time"].endswith("+00:00")
        assert second["message"] == "boom &lt;b&gt;"
        assert "RuntimeError: multi\nline ***" in second["exception"]
        assert config.bot_token not in output and "co\\\"de" not in output
        assert config.developer_code not in output


def test_text_logs_stay_the_default(config, tmp_path, capsys, restore_logging):
    """Without LOG_FORMAT the lines are plain text, as before."""
    bot_module.setup_logging(replace(config, log_file=str(tmp_path / "t.log")))
    logging.getLogger("devtrack.test").info("hello")
    line = capsys.readouterr().out.strip()
    assert line.endswith("INFO devtrack.test [MainThread] hello")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


@pytest.mark.slow
def test_metrics_port_in_use_is_one_line(api, tmp_path):
    """METRICS_PORT already taken: one line naming METRICS_PORT, exit non-zero."""
    import socket

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = start_bot(bot_env(api, tmp_path, METRICS_PORT=str(port)), tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("devtrack: METRICS_PORT:"), result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unreachable_telegram_is_logged_once_while_retrying(config, caplog, monkeypatch):
    """Connection refused: several attempts with growing pauses, one warning."""
    from datetime import datetime

    monkeypatch.setattr(bot_module, "TOKEN_RETRY_FIRST", 0.05)
    closed = FakeBotAPI().start()
    url = closed.base_url
    closed.stop()  # nothing listens there any more
    bot = bot_module.create_bot(replace(config, telegram_api_url=url), threaded=False)
    attempts: list[datetime] = []
    real_get_me = bot.get_me

    def counting_get_me():
        attempts.append(datetime.now())
        return real_get_me()

    monkeypatch.setattr(bot, "get_me", counting_get_me)
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    with caplog.at_level(logging.INFO, logger="devtrack"):
        assert bot_module.check_token(bot, stop) is False
    assert len(attempts) >= 3
    gaps = [(b - a).total_seconds() for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[-1] > gaps[0]
    warnings = [r for r in caplog.records if "cannot reach Telegram" in r.getMessage()]
    assert len(warnings) == 1 and "ConnectionError" in warnings[0].getMessage()


def test_reminder_job_logs_json_with_redaction(config, capsys, restore_logging):
    """The job's stderr log follows LOG_FORMAT too, with the same redaction."""
    import jobs.reminders as job

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    job.setup_logging(replace(config, log_format="json"))
    logging.getLogger("jobs.reminders").warning("token %s", config.bot_token)
    entry = json.loads(capsys.readouterr().err.strip())
    assert entry["message"] == "token ***" and entry["logger"] == "jobs.reminders"
