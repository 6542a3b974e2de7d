"""The playground's web side: the chat page and its small JSON API, on the emulator's port.

One HTTP server answers both the bot (``/bot<token>/...``, ``/file/bot<token>/...``) and the
browser (``/``, ``/static/...``, ``/api/...``).  The page polls ``/api/chat`` (a long poll that
returns as soon as a chat changes) and posts what the person does; the emulator turns that into
updates exactly as Telegram would.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from playground.botapi import FakeBotAPI
from playground.identities import BY_ID, DEVELOPER_CODE, IDENTITIES, Identity

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
PAGES = {"/": "index.html", "/static/app.js": "app.js", "/static/app.css": "app.css"}
LONG_POLL_SECONDS = 20.0
MAX_UPLOAD = 20 * 1024 * 1024
MAX_TEXT = 4096
LOCAL_HOSTS = ("127.0.0.1", "localhost")

Answer = tuple[int, bytes, str, dict[str, str]]


class PageError(Exception):
    """A request from the page that cannot be done; the message goes back to it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Actions:
    """What the page's buttons do beyond chatting (the playground supplies them)."""

    reset: Callable[[], str]
    reminders: Callable[[], str]


class PlaygroundAPI(FakeBotAPI):
    """The Bot API emulator plus the chat page for people."""

    def __init__(self, *, actions: Actions | None = None, **kwargs: Any) -> None:
        """Configure like FakeBotAPI; `actions` serve the reset and reminder buttons."""
        kwargs.setdefault("require_known_chat", True)
        super().__init__(**kwargs)
        self.actions = actions
        for identity in IDENTITIES:  # they all have pressed Start once: the bot may write
            self._user(identity.user_id, identity.first_name, identity.last_name,
                       identity.username)

    # -- routing ---------------------------------------------------------------------------

    def _dispatch(
        self, verb: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes, str] | Answer:
        """Bot API paths go to the emulator; everything else is the page."""
        url = urlsplit(raw_path)
        if url.path.startswith(("/bot", "/file/bot")):
            return super()._dispatch(verb, raw_path, headers, body)
        try:
            return self._page(verb, url.path, parse_qs(url.query), headers, body)
        except PageError as exc:
            return _json({"ok": False, "error": str(exc)}, exc.status)
        except Exception:  # noqa: BLE001 - the page gets an answer; the trace goes to the log
            logger.exception("playground request %s %s failed", verb, url.path)
            return _json({"ok": False, "error": "internal error, see the terminal"}, 500)

    def _page(self, verb: str, path: str, query: dict[str, list[str]],
              headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer the browser."""
        lowered = {k.lower(): v for k, v in headers.items()}
        host = lowered.get("host", "").rsplit(":", 1)[0].strip("[]")
        if host not in LOCAL_HOSTS:  # a page on another site resolving to us (DNS rebinding)
            raise PageError(403, "the playground answers only 127.0.0.1 and localhost")
        if verb == "GET" and path in PAGES:
            return _static(PAGES[path])
        if verb == "GET" and path == "/api/state":
            return _json(self.state())
        if verb == "GET" and path == "/api/chat":
            identity = _identity(_first(query, "user"))
            since = _int(_first(query, "since") or "0")
            wait = _first(query, "wait") == "1"
            return _json(self.chat(identity, since, wait=wait))
        if verb == "GET" and path.startswith("/api/file/"):
            return self._file(unquote(path[len("/api/file/"):]))
        if verb == "POST" and path.startswith("/api/"):
            # A custom header keeps other sites' forms and simple fetches out (no preflight).
            if lowered.get("x-playground") != "1":
                raise PageError(403, "missing X-Playground header")
            return self._post(path, query, lowered, body)
        raise PageError(404, "not found")

    def _post(self, path: str, query: dict[str, list[str]], headers: Mapping[str, str],
              body: bytes) -> Answer:
        """Actions of the page."""
        if path == "/api/upload":
            identity = _identity(_first(query, "user"))
            name = _first(query, "name").strip() or "file"
            if not body:
                raise PageError(400, "the file is empty")
            if len(body) > MAX_UPLOAD:
                raise PageError(413, "the file is over 20 MB")
            mime = headers.get("content-type") or None
            if mime in ("application/octet-stream", ""):
                mime = None
            self.push_document(identity.user_id, body, name, mime, **_names(identity))
            return _json({"ok": True})
        data = _json_body(body)
        if path == "/api/send":
            identity = _identity(str(data.get("user", "")))
            text = str(data.get("text", "")).strip()
            if not text:
                raise PageError(400, "empty message")
            if len(text) > MAX_TEXT:
                raise PageError(400, "a message is at most 4096 characters")
            self.push_message(identity.user_id, text, **_names(identity))
            return _json({"ok": True})
        if path == "/api/press":
            identity = _identity(str(data.get("user", "")))
            message_id = _int(str(data.get("message_id", "")))
            callback = str(data.get("data", ""))
            self.press(identity, message_id, callback)
            return _json({"ok": True})
        if path in ("/api/reset", "/api/reminders") and self.actions is not None:
            action = self.actions.reset if path == "/api/reset" else self.actions.reminders
            return _json({"ok": True, "result": action()})
        raise PageError(404, "not found")

    # -- what the page shows ---------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything the page needs once: who you can be and the bot's name."""
        return {
            "bot": {"username": self.bot_user["username"], "name": self.bot_user["first_name"]},
            "identities": [i.as_json() for i in IDENTITIES],
            "developer_code": DEVELOPER_CODE,
            "version": self.version,
        }

    def chat(self, identity: Identity, since: int, *, wait: bool) -> dict[str, Any]:
        """One chat as it looks now; with wait, only once something changed after `since`."""
        if wait:
            self.wait_for_change(since, LONG_POLL_SECONDS)
        version = self.version
        return {
            "version": version,
            "messages": self.chat_messages(identity.user_id),
            "commands": self.commands_for(identity.user_id),
            "alerts": self.alerts(identity.user_id, since),
            "counts": {i.user_id: self.message_count(i.user_id) for i in IDENTITIES},
        }

    def message_count(self, chat_id: int) -> int:
        """How many messages a chat has now (the page shows unread badges from it)."""
        with self._cond:
            return sum(1 for key in self._messages if key[0] == chat_id)

    def press(self, identity: Identity, message_id: int, data: str) -> None:
        """Press a button the bot really showed under that message (as Telegram allows)."""
        message = self.message(identity.user_id, message_id)
        if message is None:
            raise PageError(404, "no such message")
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        if not any(button.get("callback_data") == data for row in rows for button in row):
            raise PageError(400, "no such button under that message")
        self.push_callback(identity.user_id, data, message_id, **_names(identity))

    def _file(self, file_id: str) -> Answer:
        """A document of a chat, as a download."""
        with self._cond:
            stored = self._files.get(file_id)
        if stored is None:
            raise PageError(404, "no such file")
        disposition = f"attachment; filename*=UTF-8''{quote(stored.file_name)}"
        return 200, stored.content, stored.mime_type, {
            "Content-Disposition": disposition, "Cache-Control": "no-store",
        }


def _names(identity: Identity) -> dict[str, Any]:
    """The Telegram profile fields of an identity."""
    return {"first_name": identity.first_name, "last_name": identity.last_name,
            "username": identity.username}


def _first(query: dict[str, list[str]], name: str) -> str:
    """First value of a query parameter, '' when absent."""
    return (query.get(name) or [""])[0]


def _int(text: str) -> int:
    """An integer from the page, or 400."""
    try:
        return int(text)
    except ValueError:
        raise PageError(400, f"not a number: {text!r}") from None


def _identity(text: str) -> Identity:
    """The identity with that Telegram id, or 400."""
    identity = BY_ID.get(_int(text))
    if identity is None:
        raise PageError(400, "unknown identity")
    return identity


def _json_body(body: bytes) -> dict[str, Any]:
    """A JSON object body, or 400."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise PageError(400, "a JSON body is expected") from None
    if not isinstance(data, dict):
        raise PageError(400, "a JSON object is expected")
    return data


def _json(data: Any, status: int = 200) -> Answer:
    """A JSON answer that is never cached."""
    payload = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return status, payload, "application/json; charset=utf-8", {"Cache-Control": "no-store"}


def _static(name: str) -> Answer:
    """One of the page's three files."""
    path = STATIC / name
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return 200, path.read_bytes(), f"{mime}; charset=utf-8", {"Cache-Control": "no-cache"}
