"""Bot API requests through libcurl (pycurl), one kept-alive handle per thread.

Every Bot API call of pyTelegramBotAPI goes through `requests`, whose per-call preparation
(merging session settings, cookies, hooks, environment proxies) cost about a third of the bot's
CPU under load, more than the HTTP exchange itself: a button costs two calls (the answer and
the reply). telebot lets a `CUSTOM_REQUEST_SENDER` replace it. This one POSTs the same
parameters as a JSON body (one of the four ways the Bot API takes parameters; it takes POST for
every method) through libcurl, and raises the same `requests` exceptions, so every caller's
error handling holds. JSON rather than a form: percent-encoding a card's Cyrillic text and
keyboard byte by byte (urllib's `quote` is Python) took 60 µs a call against 9 µs for
`json.dumps`, about 5 % of the bot's CPU under load. telebot hands over a keyboard as a JSON
text; a string value in a JSON body reaches the Bot API as that text, as in a form. libcurl was
chosen over a urllib3 pool by measurement: a call costs the bot a third of urllib3's CPU (its
HTTP parsing is C, outside the GIL), which took the bench's throughput from 0.38 to 0.5-0.6 of
the echo bot's. Uploads keep telebot's own path (their multipart encoding is requests', and
they are not on the hot path), and so does a host that the environment sends through a proxy
(HTTPS_PROXY, NO_PROXY, read as requests reads them).
"""

from __future__ import annotations

import io
import json
import logging
import threading
from functools import cached_property
from http import HTTPStatus
from typing import Any

import certifi
import pycurl
import requests
from telebot import apihelper

logger = logging.getLogger(__name__)

JSON_BODY = "Content-Type: application/json"


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


class CurlSender:
    """A telebot CUSTOM_REQUEST_SENDER on one libcurl handle per thread, kept connected."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._session = requests.Session()  # uploads, proxies
        self._proxy_for: dict[str, bool] = {}

    def _proxied(self, url: str) -> bool:
        """Whether requests would send to url's host through a proxy (HTTPS_PROXY, NO_PROXY)."""
        origin = "/".join(url.split("/", 3)[:3])  # scheme://host:port
        if origin not in self._proxy_for:
            self._proxy_for[origin] = bool(requests.utils.get_environ_proxies(url))
        return self._proxy_for[origin]

    def _curl(self) -> pycurl.Curl:
        """This thread's handle: libcurl keeps its connection open between calls."""
        curl = getattr(self._local, "curl", None)
        if curl is None:
            curl = pycurl.Curl()
            curl.setopt(pycurl.NOSIGNAL, 1)  # no SIGALRM for timeouts: threads
            curl.setopt(pycurl.PROXY, "")  # proxied hosts take requests' path (see _proxied)
            curl.setopt(pycurl.CAINFO, certifi.where())
            curl.setopt(pycurl.HTTPHEADER, [JSON_BODY, "Expect:"])  # no 100-continue round trip
            curl.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)  # as requests speaks
            self._local.curl = curl
        return curl

    def __call__(self, method: str, url: str, params: dict | None = None,
                 files: dict | None = None, timeout: tuple[float, float] | None = None,
                 proxies: dict | None = None) -> Any:
        """Send one Bot API request the way telebot's default sender would."""
        if files or proxies or self._proxied(url):
            return self._session.request(method, url, params=params, files=files,
                                         timeout=timeout, proxies=proxies)
        connect, read = timeout if timeout else (0, 0)
        curl = self._curl()
        body = io.BytesIO()
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.POSTFIELDS, json_body(params))
        curl.setopt(pycurl.WRITEDATA, body)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, int(connect * 1000))
        curl.setopt(pycurl.TIMEOUT_MS, int((connect + read) * 1000))
        try:
            curl.perform()
        except pycurl.error as exc:
            raise _requests_error(curl, exc) from exc
        status = curl.getinfo(pycurl.RESPONSE_CODE)
        return Reply(status, _reason(status), body.getvalue())


def _reason(status: int) -> str:
    """The standard reason phrase of an HTTP status."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _requests_error(curl: pycurl.Curl, exc: pycurl.error) -> requests.RequestException:
    """A libcurl failure as the requests exception telebot's own sender would raise."""
    code, message = exc.args[0], str(exc.args[-1])
    if code == pycurl.E_OPERATION_TIMEDOUT:
        # Nothing sent yet: the connection never came up (a kept-alive connection has no
        # connect time of its own, so the request's size tells, not CONNECT_TIME).
        if curl.getinfo(pycurl.REQUEST_SIZE) == 0:
            return requests.exceptions.ConnectTimeout(message)
        return requests.exceptions.ReadTimeout(message)
    return requests.exceptions.ConnectionError(message)


def json_body(params: dict | None) -> bytes:
    """The parameters as a JSON object (UTF-8); a value JSON has no type for goes as its str(),
    as a form would send it."""
    return json.dumps(params or {}, ensure_ascii=False, default=str).encode("utf-8")


def use_curl_sender() -> CurlSender:
    """Send every Bot API call of this process through a CurlSender."""
    sender = CurlSender()
    apihelper.CUSTOM_REQUEST_SENDER = sender  # type: ignore[assignment]  # declared None
    return sender
