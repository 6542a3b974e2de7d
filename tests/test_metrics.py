"""METRICS_PORT: /metrics of the real bot process moves with updates; the job's textfile."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import pytest
import requests
from conftest import USER_ID
from e2e import running_bot, say
from prometheus_client.parser import text_string_to_metric_families

import metrics
from handlers import texts
from notices import Delivery
from outbox.notifier import Notifier
from playground.botapi import FakeBotAPI

USER = 4545


@pytest.fixture
def api(monkeypatch):
    """A running fake Bot API server."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeBotAPI() as server:
        yield server


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    answer = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5,
                          proxies={"http": "", "https": ""})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def value(samples, name: str, **labels: str) -> float:
    """One sample's value, 0 when it does not exist yet."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.slow
def test_metrics_move_with_updates(api, tmp_path):
    port = free_port()
    with running_bot(api, tmp_path, METRICS_PORT=str(port)) as process:
        before = scrape(port)
        assert value(before, "devtrack_bot_api_calls_total", method="getMe", code="200") == 1
        assert value(before, "devtrack_updates_total", kind="message") == 0

        assert say(api, USER, "/start").ok
        assert say(api, USER, "new.person@company.ru").ok
        # Telegram refuses the next reply: the handler fails, the person is told.
        api.fail_next("sendMessage", status=400, description="Bad Request: injected")
        mark = api.mark()
        api.push_message(USER, "/all")
        api.wait_for(lambda c: c.method == "sendMessage" and c.ok and c.text == texts.ERROR,
                     since=mark, timeout=15)
        mark = api.mark()
        api.push_callback(USER, "forged:data")
        api.wait_for(lambda c: c.method == "answerCallbackQuery", since=mark, timeout=15)

        # The update is counted when its handling ends, a moment after the last Bot API call.
        deadline = time.monotonic() + 10
        after = scrape(port)
        while (value(after, "devtrack_update_seconds_count", kind="callback_query") < 1
               and time.monotonic() < deadline):
            time.sleep(0.05)
            after = scrape(port)
        assert process.poll() is None
    assert value(after, "devtrack_updates_total", kind="message") == 3
    assert value(after, "devtrack_updates_total", kind="callback_query") == 1
    assert value(after, "devtrack_update_errors_total", kind="message") == 1
    assert value(after, "devtrack_update_errors_total", kind="callback_query") == 0
    assert value(after, "devtrack_update_seconds_count", kind="message") == 3
    assert value(after, "devtrack_update_seconds_sum", kind="message") > 0
    sent_ok = value(after, "devtrack_bot_api_calls_total", method="sendMessage", code="200")
    assert sent_ok == len([c for c in api.calls("sendMessage") if c.ok])
    assert value(after, "devtrack_bot_api_calls_total", method="sendMessage", code="400") == 1
    assert value(after, "devtrack_bot_api_calls_total", method="answerCallbackQuery",
                 code="200") == 1
    assert value(after, "devtrack_bot_api_calls_total", method="getUpdates", code="200") > \
        value(before, "devtrack_bot_api_calls_total", method="getUpdates", code="200")


def test_metrics_are_off_by_default(api, tmp_path):
    with running_bot(api, tmp_path):
        log = (tmp_path / "bot.log").read_text()
    assert "metrics on" not in log


def test_notifier_retries_are_counted(harness, seed, sender):
    bot = harness.bot
    bot.enable_metrics()
    try:
        person = seed.person(USER_ID)
        sender.fail("sendMessage", 502, "Bad Gateway", times=2)
        sender.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        notifier = Notifier(bot, sleep=lambda _s: None)
        assert notifier.send(person, "hello") is Delivery.SENT
        counted = bot.metrics.notifier_retries
        assert counted.labels("5xx")._value.get() == 2
        assert counted.labels("429")._value.get() == 1
        calls = bot.metrics.api_calls
        assert calls.labels("sendMessage", "502")._value.get() == 2
        assert calls.labels("sendMessage", "200")._value.get() == 1
    finally:
        bot.shutdown()


def test_api_calls_stop_being_counted_after_shutdown(harness, seed, sender):
    from telebot import apihelper

    original = apihelper._make_request
    bot = harness.bot
    bot.enable_metrics()
    assert apihelper._make_request is not original
    bot.shutdown()
    assert apihelper._make_request is original


def test_job_textfile_for_the_node_exporter(tmp_path):
    path = tmp_path / "devtrack.prom"
    metrics.write_job_textfile(str(path), {"reminder": {"sent": 3, "failed": 1},
                                           "digest": {"sent": 1}}, exit_code=3, finished=1e9)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(path.read_text()) for s in f.samples}
    assert samples[("devtrack_reminder_messages",
                    (("kind", "reminder"), ("outcome", "failed")))] == 1
    assert samples[("devtrack_reminder_messages", (("kind", "digest"), ("outcome", "sent")))] == 1
    assert samples[("devtrack_reminder_last_run_exit_code", ())] == 3
    assert samples[("devtrack_reminder_last_run_timestamp_seconds", ())] == 1e9
    assert not list(tmp_path.glob("*.tmp*")), "written atomically, no temp file left"


def test_reminder_job_writes_its_textfile(config, seed, sender, tmp_path, capsys):
    import jobs.reminders as job
    from models import db

    seed.person(USER_ID)
    db.close()
    path = tmp_path / "reminders.prom"
    config = replace(config, metrics_textfile=str(path))
    assert job.run_once(config) == 0
    text = path.read_text()
    assert 'devtrack_reminder_last_run_exit_code 0.0' in text
    assert 'devtrack_reminder_messages{kind="reminder",outcome="sent"} 0.0' in text
