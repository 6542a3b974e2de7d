"""Where the Bot API is (Telegram, a self-hosted server, the playground's emulator) and the
HTTP session devtrack's calls go through."""

from __future__ import annotations

import os
import threading
from typing import Any

import requests
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks
from telebot import apihelper

FORM = "application/x-www-form-urlencoded"
# quote_plus as urlencode applies it, one byte at a time but in C (str.translate): the
# unreserved bytes stay, a space becomes "+", every other byte "%XX".
_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_QUOTE_PLUS = {byte: chr(byte) if byte in _UNRESERVED else "+" if byte == 0x20 else f"%{byte:02X}"
               for byte in range(256)}
# The variables requests reads for a request's proxies and CA bundle (trust_env): the cached
# settings are used only while every one of them is as it was when they were computed.
ENVIRONMENT = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
               "ALL_PROXY", "no_proxy", "NO_PROXY", "REQUEST_METHOD", "REQUESTS_CA_BUNDLE",
               "CURL_CA_BUNDLE")
# Where requests looks for a .netrc (its Authorization is part of a prepared request).
NETRC = ("NETRC", "HOME")


def configure_api_url(base_url: str) -> None:
    """Point pyTelegramBotAPI at a Bot API server (the real one, self-hosted or a test fake)."""
    base = base_url.rstrip("/")
    # telebot declares both as None (its default: api.telegram.org); a format string is what
    # it reads when they are set.
    apihelper.API_URL = base + "/bot{0}/{1}"  # type: ignore[assignment]
    apihelper.FILE_URL = base + "/file/bot{0}/{1}"  # type: ignore[assignment]


def _quote(value: str | bytes) -> str:
    """urllib.parse.quote_plus(value) (UTF-8), in C."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return raw.decode("latin-1").translate(_QUOTE_PLUS)


def form_body(params: dict[Any, Any]) -> bytes | None:
    """The form body requests would encode for these parameters (urlencode of the UTF-8
    keys and values, None left out), or None for a value it does not know how to match."""
    fields = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (str, bytes)):
            text = _quote(value)
        elif isinstance(value, (int, float)):  # bool too: "True", as urlencode writes it
            text = _quote(str(value))
        else:
            return None
        if not isinstance(key, (str, bytes)):
            return None
        fields.append(f"{_quote(key)}={text}")
    return "&".join(fields).encode("ascii")


class BotApiSession(requests.Session):
    """requests.Session for Bot API calls: the same requests, far less CPU per call.

    pyTelegramBotAPI passes every method's parameters as `params`, so requests puts them in
    the URL, and then requests and urllib3 re-quote that URL byte by byte in Python: for a
    screen of Russian text and a keyboard that is most of the cost of a call. A POST without
    files sends the same urlencoded parameters as its form body instead, as the Bot API
    accepts (application/x-www-form-urlencoded), encoded in C (`form_body`); GETs and uploads
    are left as they are.
    requests also scans the whole environment for proxies on every call, and merges the
    session's headers, cookies and hooks and looks for a .netrc into every request; for such a
    form POST from a session without cookies, auth or hooks of its own those answers are kept
    per URL while the variables they depend on stay the same, and only the body changes.
    """

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[tuple[str, tuple[str | None, ...]], dict[str, Any]] = {}
        self._templates: dict[tuple[Any, ...], requests.PreparedRequest] = {}
        self._lock = threading.Lock()

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """As requests prepares it; a form POST of bytes reuses the prepared URL and headers."""
        body = request.data
        if not (isinstance(body, bytes) and request.method == "POST" and not request.params
                and not request.files and request.json is None and request.auth is None
                and not request.cookies and self.trust_env
                and not self.cookies and self.auth is None and not self.params
                and isinstance(request.headers, dict) and isinstance(request.url, str)
                and not any(request.hooks.values()) and not any(self.hooks.values())):
            return super().prepare_request(request)
        key = (request.url, tuple(request.headers.items()),
               tuple(os.environ.get(name) for name in NETRC))
        template = self._templates.get(key)
        if template is None:
            # The session's headers, the URL as requests writes it, a .netrc's Authorization.
            template = super().prepare_request(requests.Request(
                method="POST", url=request.url, headers=request.headers, data=b"-"))
            with self._lock:
                if len(self._templates) > 256:
                    self._templates.clear()
                self._templates[key] = template
        prepared = requests.PreparedRequest()
        prepared.method, prepared.url = template.method, template.url
        prepared.headers = template.headers.copy()
        prepared.headers["Content-Length"] = str(len(body))
        prepared.body = body
        prepared._cookies = RequestsCookieJar()
        prepared.hooks = default_hooks()
        return prepared

    def request(self, method: str, url: Any, *args: Any,
                **kwargs: Any) -> requests.Response:
        """As requests.Session.request; a POST's parameters (no files) travel in the body."""
        params = kwargs.get("params")
        if (not args and params and isinstance(params, dict) and kwargs.get("data") is None
                and not kwargs.get("files") and kwargs.get("json") is None
                and kwargs.get("headers") is None
                and method.upper() == "POST"):
            body = form_body(params)
            if body is not None:
                del kwargs["params"]
                kwargs["data"] = body
                kwargs["headers"] = {"Content-Type": FORM}
        return super().request(method, url, *args, **kwargs)

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        """requests' answer for this server, computed once per environment."""
        # Session.request passes {} for no proxies of its own, which is what is cached.
        if proxies != {} or stream is not None or verify is not None or cert is not None or (
                not self.trust_env or not isinstance(url, str)):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        # Proxies depend on the scheme and the host only: "http://host:port".
        key = ("/".join(url.split("/", 3)[:3]),
               tuple(os.environ.get(name) for name in ENVIRONMENT))
        settings = self._settings.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, {}, stream, verify, cert)
            with self._lock:
                if len(self._settings) > 64:
                    self._settings.clear()
                self._settings[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


def use_api_session() -> None:
    """Send pyTelegramBotAPI's calls through a BotApiSession (kept if one is already set)."""
    if not isinstance(apihelper.session, BotApiSession):
        # telebot declares it None; any requests.Session is what it reads when it is set.
        apihelper.session = BotApiSession()  # type: ignore[assignment]
