"""Bot API requests on one shared urllib3 pool instead of a requests.Session per thread.

Every Bot API call of pyTelegramBotAPI goes through `requests`, whose per-call preparation
(merging session settings, cookies, hooks, environment proxies) cost about a third of the bot's
CPU under load, more than the HTTP exchange itself: a button costs two calls (the answer and
the reply). telebot lets a `CUSTOM_REQUEST_SENDER` replace it. This one POSTs the same
parameters as a form body (the Bot API reads a form like the query string that telebot's
`requests.request(params=...)` builds, and takes POST for every method) on a urllib3 pool
shared by all threads, and raises the same `requests` exceptions, so every caller's error
handling holds. Uploads keep telebot's own path (their multipart encoding is requests', and
they are not on the hot path), and so does a host that the environment sends through a proxy
(HTTPS_PROXY, NO_PROXY: urllib3 does not read them).
"""

from __future__ import annotations

import json
import logging
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

import requests
import urllib3
from telebot import apihelper

logger = logging.getLogger(__name__)

POOL_SIZE = 16  # connections kept per Bot API host: the worker, reply and polling threads
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Reply:
    """The part of requests.Response that telebot reads: status, reason, text and JSON."""

    def __init__(self, status: int, reason: str | None, body: bytes) -> None:
        self.status_code = status
        self.reason = reason or ""
        self.content = body

    @cached_property
    def text(self) -> str:
        """The body as text (telebot formats it into a debug line on every call)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when it is not)."""
        return json.loads(self.content)


class PooledSender:
    """A telebot CUSTOM_REQUEST_SENDER on one urllib3 PoolManager (thread-safe)."""

    def __init__(self, pool_size: int = POOL_SIZE) -> None:
        self._pool = urllib3.PoolManager(maxsize=pool_size, retries=False)
        self._session = requests.Session()  # uploads, proxies
        self._proxy_for: dict[str, bool] = {}

    def _proxied(self, url: str) -> bool:
        """Whether requests would send to url's host through a proxy (HTTPS_PROXY, NO_PROXY)."""
        origin = "/".join(url.split("/", 3)[:3])  # scheme://host:port
        if origin not in self._proxy_for:
            self._proxy_for[origin] = bool(requests.utils.get_environ_proxies(url))
        return self._proxy_for[origin]

    def __call__(self, method: str, url: str, params: dict | None = None,
                 files: dict | None = None, timeout: tuple[float, float] | None = None,
                 proxies: dict | None = None) -> Any:
        """Send one Bot API request the way telebot's default sender would."""
        if files or proxies or self._proxied(url):
            return self._session.request(method, url, params=params, files=files,
                                         timeout=timeout, proxies=proxies)
        connect, read = timeout if timeout else (None, None)
        try:
            # The parameters as a form body: what the Bot API reads from a query string, and
            # urllib3 leaves a body alone instead of re-checking every character of a URL.
            response = self._pool.urlopen(
                "POST", url, body=form(params), headers=FORM, retries=False,
                timeout=urllib3.Timeout(connect=connect, read=read))
        # Mapped as requests maps them (NewConnectionError subclasses ConnectTimeoutError).
        except urllib3.exceptions.NewConnectionError as exc:
            raise requests.exceptions.ConnectionError(str(exc)) from exc
        except urllib3.exceptions.ConnectTimeoutError as exc:
            raise requests.exceptions.ConnectTimeout(str(exc)) from exc
        except urllib3.exceptions.TimeoutError as exc:
            raise requests.exceptions.ReadTimeout(str(exc)) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise requests.exceptions.ConnectionError(str(exc)) from exc
        return Reply(response.status, response.reason, response.data)


def form(params: dict | None) -> str:
    """Parameters encoded as requests encodes `params=` (the same pairs, in a form body)."""
    return urlencode(params, doseq=True) if params else ""


def use_pooled_sender() -> PooledSender:
    """Send every Bot API call of this process through a PooledSender."""
    sender = PooledSender()
    apihelper.CUSTOM_REQUEST_SENDER = sender  # type: ignore[assignment]  # declared None
    return sender
