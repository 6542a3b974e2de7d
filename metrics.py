"""Prometheus metrics: the bot's /metrics endpoint (METRICS_PORT) and the reminder job's textfile.

The bot counts updates by kind, times each update's handling, counts handler errors, Bot API
calls by method and result code, and notifier retries, and serves them on METRICS_PORT (off by
default). The reminder job is short-lived, so it writes its counts to METRICS_TEXTFILE in the
node-exporter textfile-collector format instead (written atomically: temp file, then rename).
Each bot has its own registry, so tests can build many bots in one process.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client import write_to_textfile as _write_to_textfile
from telebot import apihelper

logger = logging.getLogger(__name__)

# Handler latency buckets: most screens take a few milliseconds, uploads and imports seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class BotMetrics:
    """The bot's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter("devtrack_updates", "Updates handled, by kind",
                               ["kind"], registry=self.registry)
        self.latency = Histogram("devtrack_update_seconds", "Time to handle one update, by kind",
                                 ["kind"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("devtrack_update_errors", "Updates whose handling raised, by kind",
                              ["kind"], registry=self.registry)
        self.api_calls = Counter("devtrack_bot_api_calls",
                                 "Bot API calls by method and result (HTTP/Telegram error code, "
                                 "or 'network' when no answer came)",
                                 ["method", "code"], registry=self.registry)
        self.notifier_retries = Counter("devtrack_notifier_retries",
                                        "Notification attempts repeated, by reason",
                                        ["reason"], registry=self.registry)
        self._server: Any = None

    @contextmanager
    def update(self, kind: str) -> Iterator[None]:
        """Count and time one update; an exception escaping it counts as an error."""
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            self.errors.labels(kind).inc()
            raise
        finally:
            self.updates.labels(kind).inc()
            self.latency.labels(kind).observe(time.perf_counter() - started)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:  # noqa: S104 - a pod's port
        """Serve /metrics on port in a daemon thread."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        self._server = server
        logger.info("metrics on :%d/metrics", port)

    def close(self) -> None:
        """Stop serving /metrics."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


# --- Bot API calls ---------------------------------------------------------------------------
# pyTelegramBotAPI sends every call through apihelper._make_request; one wrapper there sees the
# method and how it ended. It reports to whichever bots registered (normally exactly one).

_listeners: list[BotMetrics] = []
_lock = threading.Lock()
_original: Callable[..., Any] | None = None


def result_code(exc: BaseException | None) -> str:
    """'200', Telegram's error_code, the HTTP status, or 'network'."""
    if exc is None:
        return "200"
    if isinstance(exc, apihelper.ApiTelegramException):
        return str(exc.error_code)
    if isinstance(exc, apihelper.ApiHTTPException):
        return str(getattr(exc.result, "status_code", "http"))
    if isinstance(exc, requests.RequestException):
        return "network"
    return "error"


def _counted(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap apihelper._make_request to count calls by method and result."""

    @functools.wraps(original)
    def make_request(token: str, method_name: str, *args: Any, **kwargs: Any) -> Any:
        failure: BaseException | None = None
        try:
            return original(token, method_name, *args, **kwargs)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            code = result_code(failure)
            for metrics in list(_listeners):
                metrics.api_calls.labels(method_name, code).inc()

    return make_request


def count_api_calls(metrics: BotMetrics) -> None:
    """Start counting this process's Bot API calls into metrics."""
    global _original
    with _lock:
        if _original is None:
            _original = apihelper._make_request
            apihelper._make_request = _counted(_original)
        if metrics not in _listeners:
            _listeners.append(metrics)


def stop_counting_api_calls(metrics: BotMetrics) -> None:
    """Stop counting into metrics; the last one out restores pyTelegramBotAPI."""
    global _original
    with _lock:
        if metrics in _listeners:
            _listeners.remove(metrics)
        if not _listeners and _original is not None:
            apihelper._make_request = _original
            _original = None


# --- the reminder job ------------------------------------------------------------------------


def write_job_textfile(path: str, counts: dict[str, dict[str, int]], exit_code: int,
                       finished: float | None = None) -> None:
    """Write one reminder run's outcome for the node-exporter textfile collector.

    counts: {"reminder": {"sent": 3, "failed": 1, ...}, "digest": {...}}.
    """
    registry = CollectorRegistry()
    messages = Gauge("devtrack_reminder_messages",
                     "Recipients of the last reminder run, by kind and outcome",
                     ["kind", "outcome"], registry=registry)
    for kind, outcomes in counts.items():
        for outcome, value in outcomes.items():
            messages.labels(kind, outcome).set(value)
    Gauge("devtrack_reminder_last_run_exit_code", "Exit code of the last reminder run",
          registry=registry).set(exit_code)
    Gauge("devtrack_reminder_last_run_timestamp_seconds", "When the last reminder run ended",
          registry=registry).set(time.time() if finished is None else finished)
    _write_to_textfile(path, registry)
