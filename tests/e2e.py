"""End-to-end plumbing: the real `python bot.py` process polling a fake Bot API server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from playground.botapi import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:TEST-token"


def bot_env(api: FakeBotAPI, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a bot process talking to the fake server, on a SQLite file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_"))}
    env.update({
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api.base_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "LOG_FILE": str(tmp_path / "bot.log"),
        "HEARTBEAT_FILE": str(tmp_path / "heartbeat"),
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        # Tests of other features register by typing an email; access modes set their own.
        "REGISTRATION": "open",
    })
    env.update(extra)
    return env


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15,
               step: float = 0.05, tick: Callable[[], None] | None = None) -> None:
    """Poll condition until it holds; fail naming `what` once timeout seconds have passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        if tick is not None:
            tick()
        time.sleep(step)


def wait_until_polling(api: FakeBotAPI, process: subprocess.Popen, timeout: float = 30) -> None:
    """Block until the bot has a long poll open (or fail with its output)."""

    def polling() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"bot exited with {process.returncode}: {process.stdout.read()}")
        return api.active_polls > 0

    wait_until(polling, "the bot to start polling", timeout)


@contextmanager
def running_bot(api: FakeBotAPI, tmp_path: Path, **extra: str) -> Iterator[subprocess.Popen]:
    """Start bot.py, wait until it polls, and stop it with SIGTERM afterwards."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bot.py")], cwd=tmp_path, env=bot_env(api, tmp_path, **extra),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_until_polling(api, process)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def reply_to(api: FakeBotAPI, since: int, chat_id: int, method: str = "sendMessage"):
    """The next successful call of method to the chat after `since`."""
    return api.wait_for(lambda c: c.method == method and c.chat_id == chat_id and c.ok,
                        timeout=15, since=since)


def button_data(call, label: str) -> str:
    """callback_data of the first button whose label contains label."""
    for row in call.params["reply_markup"]["inline_keyboard"]:
        for b in row:
            if label in b["text"]:
                return b["callback_data"]
    raise AssertionError(f"no {label!r} button in {call.params['reply_markup']}")


def press(api: FakeBotAPI, user: int, call, label: str, *, expect: str = "sendMessage"):
    """Press the button labelled `label` under call's message; return the bot's reply."""
    mark = api.mark()
    api.push_callback(user, button_data(call, label), message_id=call.result["message_id"])
    return reply_to(api, mark, chat_id=user, method=expect)


def say(api: FakeBotAPI, user: int, text: str):
    """Send text as user; return the bot's reply."""
    mark = api.mark()
    api.push_message(user, text)
    return reply_to(api, mark, chat_id=user)
