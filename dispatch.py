"""The bot runtime: per-chat ordered dispatch, heartbeat and graceful shutdown on top of TeleBot."""

from __future__ import annotations

import logging
import threading
import traceback
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from telebot import ExceptionHandler, TeleBot, types
from telebot.storage import StateMemoryStorage

from config import Config
from handlers.fit import ALERT_LIMIT, CAPTION_LIMIT, fit
from handlers.routing import Routes
from metrics import BotMetrics, count_api_calls, stop_counting_api_calls
from models import utcnow
from outbox.notifier import Notifier
from worker_pool import WorkerPool

logger = logging.getLogger(__name__)
# The kind of update the current thread is handling, for the error counter.
_handling = threading.local()


def chat_key(update: Any) -> int | None:
    """The chat an update belongs to: updates of one chat must run in order."""
    chat = getattr(update, "chat", None)
    if chat is not None:
        return chat.id
    message = getattr(update, "message", None)
    if message is not None and getattr(message, "chat", None) is not None:
        return message.chat.id
    user = getattr(update, "from_user", None)
    return user.id if user is not None else None


class ChatSerialExecutor:
    """Runs tasks of one chat strictly in order, tasks of different chats in parallel."""

    def __init__(self, workers: int) -> None:
        self._pool = WorkerPool(workers, "update")
        self._lock = threading.Lock()
        self._queues: dict[Any, deque[Callable[[], None]]] = {}
        self._closed = False

    def submit(self, key: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Queue fn for the chat; False when the executor is shutting down."""
        call = lambda: fn(*args, **kwargs)  # noqa: E731
        with self._lock:
            if self._closed:
                return False
            queue = self._queues.get(key)
            if queue is not None:
                # A drain for this chat is running and will pick the call up in order.
                queue.append(call)
                return True
            self._queues[key] = deque([call])
        self._pool.submit(lambda: self._drain(key))
        return True

    def _drain(self, key: Any) -> None:
        """Run the chat's queued calls one after another until the queue is empty."""
        while True:
            with self._lock:
                queue = self._queues[key]
                if not queue:
                    del self._queues[key]
                    return
                call = queue.popleft()
            try:
                call()
            except Exception:  # noqa: BLE001 - one bad update must not stop the chat's queue
                logger.exception("unhandled error while processing an update")

    def shutdown(self) -> None:
        """Refuse new tasks and wait for the queued ones to finish."""
        with self._lock:
            self._closed = True
        self._pool.shutdown()


class LoggingExceptionHandler(ExceptionHandler):
    """Logs handler exceptions with their traceback; the middleware tells the person."""

    def __init__(self) -> None:
        self.metrics: BotMetrics | None = None

    def handle(self, exception: Exception) -> bool:
        """Log, count and mark the exception handled."""
        logger.error("handler failed: %s\n%s", exception, traceback.format_exc())
        if self.metrics is not None:
            self.metrics.errors.labels(getattr(_handling, "kind", None) or "unknown").inc()
        return True


class DevtrackBot(TeleBot):
    """TeleBot with ordered per-chat dispatch, an injected clock and a polling heartbeat."""

    def __init__(
        self,
        config: Config,
        *,
        threaded: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(
            config.bot_token,
            parse_mode="HTML",
            threaded=threaded,
            num_threads=1,
            use_class_middlewares=True,
            # Never telebot's default: one StateMemoryStorage shared by every bot in the process.
            state_storage=StateMemoryStorage(),
            exception_handler=LoggingExceptionHandler(),
        )
        self.config = config
        self.clock = clock
        self.executor = ChatSerialExecutor(config.workers) if threaded else None
        # Button answers go out here, in parallel with the visible reply (Ctx.answer).
        self.reply_pool = WorkerPool(config.workers, "reply") if threaded else None
        self.on_poll: list[Callable[[], None]] = []
        # Filled by handlers.register_all: button/dialogue routes and feature hooks.
        self.routes = Routes()
        self.card_extensions: list[Callable[..., tuple[list[str], list]]] = []
        self.after_return: list[Callable[..., None]] = []
        # fn(ctx, device_id) before a device (or, with None, a list of devices) is read or acted
        # on: lets the queue apply hold expiry first.
        self.before_read: list[Callable[..., None]] = []
        # The one way to message other people (403/429/5xx/network handled, never raises).
        self.notifier = Notifier(self)
        # Set by enable_metrics() when METRICS_PORT is configured.
        self.metrics: BotMetrics | None = None

    def enable_metrics(self) -> BotMetrics:
        """Count updates, latency, errors and Bot API calls from now on."""
        self.metrics = BotMetrics()
        if isinstance(self.exception_handler, LoggingExceptionHandler):
            self.exception_handler.metrics = self.metrics
        count_api_calls(self.metrics)
        return self.metrics

    def _measured(self, task: Callable[..., Any], kind: str) -> Callable[..., Any]:
        """task (one update through middleware and handlers), counted and timed by kind."""
        metrics = self.metrics
        if metrics is None:
            return task

        def measured(*args: Any, **kwargs: Any) -> Any:
            _handling.kind = kind
            try:
                with metrics.update(kind):
                    return task(*args, **kwargs)
            finally:
                _handling.kind = None

        return measured

    def _exec_task(self, task: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Dispatch through the per-chat executor instead of TeleBot's shared pool."""
        if self.metrics is not None and kwargs.get("update_type"):
            task = self._measured(task, kwargs["update_type"])
        if self.executor is None:
            super()._exec_task(task, *args, **kwargs)
            return
        if not self.executor.submit(chat_key(args[0]) if args else None, task, *args, **kwargs):
            # Not confirmed to Telegram, so it is delivered again after the restart.
            logger.info("shutting down: update left for the next start")

    def get_updates(self, *args: Any, **kwargs: Any) -> list[types.Update]:
        """getUpdates, then tell the liveness hooks that the polling loop is alive."""
        updates = super().get_updates(*args, **kwargs)
        for hook in self.on_poll:
            hook()
        return updates

    def shutdown(self) -> None:
        """Stop polling and let the updates already in progress finish."""
        self.stop_polling()
        if self.executor is not None:
            self.executor.shutdown()
        if self.reply_pool is not None:
            self.reply_pool.shutdown()
        if self.metrics is not None:
            self.metrics.close()
            stop_counting_api_calls(self.metrics)

    # Every outgoing text passes here, so no screen can exceed Telegram's limits.

    def send_message(self, chat_id: Any, text: str, *args: Any, **kwargs: Any) -> types.Message:
        """sendMessage with the text fitted to 4,096 UTF-16 units."""
        return super().send_message(chat_id, fit(text), *args, **kwargs)

    def edit_message_text(self, text: str | None = None, *args: Any, **kwargs: Any) -> Any:
        """editMessageText with the text fitted to 4,096 UTF-16 units."""
        return super().edit_message_text(None if text is None else fit(text), *args, **kwargs)

    def send_document(self, chat_id: Any, document: Any, *args: Any, **kwargs: Any) -> Any:
        """sendDocument with the caption fitted to 1,024 UTF-16 units."""
        if kwargs.get("caption"):
            kwargs["caption"] = fit(kwargs["caption"], CAPTION_LIMIT)
        return super().send_document(chat_id, document, *args, **kwargs)

    def answer_callback_query(self, callback_query_id: Any, text: str | None = None,
                              *args: Any, **kwargs: Any) -> bool:
        """answerCallbackQuery with the alert fitted to 200 characters (plain text)."""
        if text:
            text = text if len(text) <= ALERT_LIMIT else text[:ALERT_LIMIT - 1] + "…"
        return super().answer_callback_query(callback_query_id, text, *args, **kwargs)
