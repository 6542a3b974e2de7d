"""A local Telegram Bot API emulator on 127.0.0.1 (standard library only).

The playground serves the real bot from it, and the end-to-end tests drive the bot through it.
Point pyTelegramBotAPI at it with ``TELEGRAM_API_URL=emulator.base_url`` (or
``apihelper.API_URL = fake.api_url`` and ``apihelper.FILE_URL = fake.file_url``) and
``NO_PROXY=127.0.0.1,localhost``.  Requests are validated with ``telegram_rules.check_request``
so it refuses what Telegram refuses; every call is recorded as a ``Call``; every change of a
chat bumps ``version`` so a viewer can wait for it (``wait_for_change``).
"""

from __future__ import annotations

import heapq
import json
import mimetypes
import socket
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from playground import telegram_rules as rules

BOT_ID = 1000
BOT_USERNAME = "devtrack_test_bot"
BOT_FIRST_NAME = "devtrack"
BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": BOT_FIRST_NAME,
    "username": BOT_USERNAME,
}
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
MAX_UPLOAD_SIZE = 50 * 1024 * 1024
FIRST_UPDATE_ID = 500_000_001
DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message", "edited_message", "channel_post", "edited_channel_post", "callback_query",
        "inline_query", "chosen_inline_result", "shipping_query", "pre_checkout_query", "poll",
        "poll_answer", "my_chat_member", "chat_join_request", "business_connection",
        "business_message", "edited_business_message", "deleted_business_messages",
        "message_reaction", "message_reaction_count", "removed_chat_boost", "chat_boost",
        "purchased_paid_media", "chat_member",
    }
)

_INT_FIELDS = frozenset(
    {
        "chat_id", "message_id", "offset", "limit", "timeout", "user_id", "cache_time",
        "reply_to_message_id", "message_thread_id", "from_chat_id",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "disable_notification", "show_alert", "drop_pending_updates", "protect_content",
        "disable_web_page_preview", "allow_sending_without_reply",
        "disable_content_type_detection",
    }
)
_JSON_FIELDS = frozenset(
    {
        "reply_markup", "allowed_updates", "entities", "caption_entities", "commands", "scope",
        "reply_parameters", "link_preview_options", "menu_button",
    }
)
_BLOCKED = "Forbidden: bot was blocked by the user"
_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
_FAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: _BLOCKED,
    404: "Not Found",
    409: _CONFLICT,
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ApiError(Exception):
    """A Telegram error answer raised by a method implementation."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class Call:
    """One recorded request and the answer the fake gave (``call["method"]`` also works)."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]]
    time: float
    token: str = ""
    http_method: str = "POST"
    status: int = 0
    response: dict[str, Any] = field(default_factory=dict)
    finished: float = 0.0
    index: int = -1

    def __getitem__(self, key: str) -> Any:
        """Dict-style access to the attributes."""
        return getattr(self, key)

    @property
    def ok(self) -> bool:
        """Whether the fake answered ok: true."""
        return bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        """The result of a successful call (None otherwise)."""
        return self.response.get("result")

    @property
    def error_code(self) -> int | None:
        """Telegram error_code of a failed call."""
        return self.response.get("error_code")

    @property
    def description(self) -> str | None:
        """Telegram description of a failed call."""
        return self.response.get("description")

    @property
    def chat_id(self) -> int | None:
        """chat_id parameter as an int when numeric."""
        value = self.params.get("chat_id")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def text(self) -> str | None:
        """The text (or caption) parameter as sent."""
        value = self.params.get("text", self.params.get("caption"))
        return None if value is None else str(value)

    @property
    def visible_text(self) -> str | None:
        """text/caption as the user sees it (HTML stripped when parse_mode=HTML)."""
        text = self.text
        if text is None:
            return None
        mode = self.params.get("parse_mode")
        return rules.parse_text(text, mode if isinstance(mode, str) else None, strict=False)[0]


@dataclass
class _Rule:
    """A pending fault or delay for the next calls of one method."""

    method: str
    times: int
    chat_id: int | None
    status: int = 0
    retry_after: int = 0
    description: str | None = None
    body: bytes | None = None
    seconds: float = 0.0


@dataclass
class _File:
    """A file the fake can serve through getFile and /file/bot<token>/<path>."""

    file_id: str
    file_unique_id: str
    file_name: str
    mime_type: str
    content: bytes
    file_path: str


@dataclass
class _Stored:
    """A message in a chat, with what editMessage* compares to detect 'not modified'."""

    message: dict[str, Any]
    visible: str | None
    entities: list[dict[str, Any]]
    markup: dict[str, Any] | None


def _decode_value(name: str, value: Any) -> Any:
    """Decode one wire parameter: ints, booleans and JSON-serialized fields."""
    if not isinstance(value, str):
        return value
    if name in _INT_FIELDS and rules._INT_RE.fullmatch(value.strip()):
        return int(value)
    if name in _BOOL_FIELDS:
        return value.strip().lower() in ("true", "1")
    if name in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _header_params(value: str, header: str) -> Message:
    """An email Message holding one header, for its get_param/get_filename parsers."""
    message = Message()
    message[header] = value
    return message


def parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Split a multipart/form-data body into (fields, files: name -> (filename, bytes))."""
    boundary = _header_params(content_type, "Content-Type").get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ApiError(400, "Bad Request: multipart boundary missing")
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.partition(b"\r\n\r\n")
        headers = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip()] = value.strip()
        disposition = headers.get("Content-Disposition", "")
        holder = _header_params(disposition, "Content-Disposition")
        name = holder.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = holder.get_filename()
        if filename is not None:
            files[name] = (filename, content)
        else:
            fields[name] = content.decode("utf-8", "replace")
    return fields, files


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 handler answered by the owning FakeBotAPI; a connection is kept alive between
    requests, as Telegram keeps it (a client that asks to close gets it closed)."""

    server: _Server
    protocol_version = "HTTP/1.1"
    # The headers and the body are two writes: on a kept-alive connection Nagle's algorithm
    # held the body back until the client's delayed ACK, some 40 ms per call.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        """Open the connection, known to the server until it closes."""
        super().setup()
        self.server.opened(self.connection)

    def finish(self) -> None:
        """Close the connection."""
        self.server.closed(self.connection)
        super().finish()

    def do_GET(self) -> None:
        """Serve a GET request."""
        self._serve("GET")

    def do_POST(self) -> None:
        """Serve a POST request."""
        self._serve("POST")

    def _read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self, verb: str) -> None:
        """Dispatch to the fake and write its answer."""
        body = self._read_body()
        if self.server.closing:
            # Read after a stop: the kernel hands over a request that arrived while the
            # connection's end was on its way, and a stopped server must not answer it.
            self.close_connection = True
            return
        answer = self.server.fake._dispatch(verb, self.path, dict(self.headers.items()), body)
        status, payload, content_type = answer[:3]
        extra: dict[str, str] = answer[3] if len(answer) == 4 else {}
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client went away (e.g. a poller that was stopped)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its FakeBotAPI."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeBotAPI) -> None:
        super().__init__(address, _Handler)
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self.accepted = 0  # connections so far
        self._closing = False

    def opened(self, connection: socket.socket) -> None:
        """A client connected (one accepted just before a stop is ended at once)."""
        with self._open_lock:
            self.accepted += 1
            if not self._closing:
                self._open.add(connection)
                return
        _end(connection)

    def closed(self, connection: socket.socket) -> None:
        """A connection ended."""
        with self._open_lock:
            self._open.discard(connection)

    @property
    def closing(self) -> bool:
        """Whether a stop has begun (requests read from now on go unanswered)."""
        return self._closing

    def close_connections(self) -> None:
        """End every kept-alive connection, as a server going away does."""
        with self._open_lock:
            connections, self._open, self._closing = self._open, set(), True
        for connection in connections:
            _end(connection)


def _end(connection: socket.socket) -> None:
    """End a connection after the answer in hand: its handler reads the end and finishes.

    Only reading is shut: a request being served (a released long poll) still gets its answer.
    """
    try:
        connection.shutdown(socket.SHUT_RD)
    except OSError:
        pass  # already gone


class FakeBotAPI:
    """Fake Bot API server: serves a bot, records its calls, feeds it updates, injects faults."""

    def __init__(
        self,
        *,
        token: str | None = None,
        strict: bool = True,
        require_known_chat: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.0,
        bot_username: str = BOT_USERNAME,
    ) -> None:
        """Configure; token=None accepts any token, strict is telegram_rules' strict mode.

        delay: seconds added to every answer except getUpdates (a network-like latency).
        """
        self.token = token
        self.delay = delay
        self.bot_user: dict[str, Any] = {**BOT_USER, "username": bot_username}
        self.strict = strict
        self.require_known_chat = require_known_chat
        self._address = (host, port)
        self._cond = threading.Condition(threading.RLock())
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = FIRST_UPDATE_ID
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES - {
            "chat_member", "message_reaction", "message_reaction_count",
        }
        self._poll_generation = 0
        self._active_polls = 0
        self._faults: list[_Rule] = []
        self._delays: list[_Rule] = []
        self._blocked: set[int] = set()
        self._files: dict[str, _File] = {}
        self._file_paths: dict[str, str] = {}
        self._file_counter = 0
        self._message_ids: dict[int, int] = {}
        self._messages: dict[tuple[int, int], _Stored] = {}
        # Per chat, the ids of the bot's messages as a max-heap (negated); deleted ones are
        # dropped when they reach the top. A button press finds the latest without a scan:
        # scanning every message ever sent grew each press with the emulator's history.
        self._bot_message_ids: dict[int, list[int]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._callback_ids: set[str] = set()
        self._callback_counter = 0
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.errors: list[str] = []
        self.version = 0
        self._alerts: list[dict[str, Any]] = []
        self._callback_chats: dict[str, int] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeBotAPI:
        """Serve in a background thread (a free port first, the same port after a stop)."""
        if self._server is not None:
            raise RuntimeError("FakeBotAPI already started")
        self._stopping.clear()
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeBotAPI:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; pending long polls and delays are released at once."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        server.shutdown()
        server.server_close()
        server.close_connections()
        self._address = (self._address[0], server.server_address[1])
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeBotAPI:
        """Start and return self."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop."""
        self.stop()

    @property
    def connections(self) -> int:
        """How many connections clients opened since the last start."""
        return self._server.accepted if self._server is not None else 0

    @property
    def port(self) -> int:
        """The bound port (0 before start)."""
        return self._server.server_address[1] if self._server is not None else 0

    @property
    def base_url(self) -> str:
        """Like http://127.0.0.1:PORT."""
        if self._server is None:
            raise RuntimeError("FakeBotAPI not started")
        host = self._server.server_address[0]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Value for telebot.apihelper.API_URL (and TELEGRAM_API_URL-style settings)."""
        return self.base_url + "/bot{0}/{1}"

    @property
    def file_url(self) -> str:
        """Value for telebot.apihelper.FILE_URL."""
        return self.base_url + "/file/bot{0}/{1}"

    # -- recording -------------------------------------------------------------------------

    def calls(self, method: str | None = None, *, chat_id: int | None = None) -> list[Call]:
        """Finished calls in completion order, optionally of one method and/or chat."""
        with self._cond:
            found = list(self._calls)
        if method is not None:
            found = [c for c in found if c.method.lower() == method.lower()]
        if chat_id is not None:
            found = [c for c in found if c.chat_id == chat_id]
        return found

    def mark(self) -> int:
        """Number of calls recorded so far, for wait_for(..., since=mark)."""
        with self._cond:
            return len(self._calls)

    def sent_texts(self, chat_id: int | None = None, *, include_edits: bool = False) -> list[str]:
        """text of successful sendMessage (and editMessageText if asked) calls, as sent."""
        methods = {"sendmessage", "editmessagetext"} if include_edits else {"sendmessage"}
        return [
            str(c.params.get("text"))
            for c in self.calls(chat_id=chat_id)
            if c.ok and c.method.lower() in methods
        ]

    def wait_for(
        self, predicate: Callable[[Call], bool], timeout: float = 10, *, since: int = 0
    ) -> Call:
        """Block until a finished call (index >= since) satisfies predicate; return it."""
        deadline = time.monotonic() + timeout
        checked = since
        with self._cond:
            while True:
                while checked < len(self._calls):
                    call = self._calls[checked]
                    checked += 1
                    if predicate(call):
                        return call
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            listing = "\n".join(self._describe(c) for c in self._calls[since:]) or "(none)"
        raise AssertionError(f"no matching Bot API call within {timeout} s; calls:\n{listing}")

    def wait_for_method(
        self, method: str, chat_id: int | None = None, timeout: float = 10, *, since: int = 0
    ) -> Call:
        """Wait for a call of method (to chat_id if given); failed answers count too."""
        name = method.lower()
        return self.wait_for(
            lambda c: c.method.lower() == name and (chat_id is None or c.chat_id == chat_id),
            timeout,
            since=since,
        )

    def clear(self) -> None:
        """Forget the recorded calls (state, updates and faults are kept)."""
        with self._cond:
            self._calls.clear()

    @staticmethod
    def _describe(call: Call) -> str:
        """One line about a call for failure messages."""
        params = {k: v for k, v in call.params.items() if k != "reply_markup"}
        outcome = "ok" if call.ok else f"{call.error_code} {call.description}"
        return f"  #{call.index} {call.method} {params!r} -> {outcome}"

    # -- updates ---------------------------------------------------------------------------

    def _user(
        self, user_id: int, first_name: str, last_name: str | None, username: str | None
    ) -> dict[str, Any]:
        """Build and remember a User object."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        user["language_code"] = "ru"
        with self._cond:
            self._users[user_id] = user
        return user

    def _chat(self, chat_id: int) -> dict[str, Any]:
        """Chat object: private for positive ids (with the user's names when known)."""
        if chat_id < 0:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            return {"id": chat_id, "type": kind, "title": "Test chat"}
        chat: dict[str, Any] = {"id": chat_id, "type": "private"}
        user = self._users.get(chat_id)
        if user is not None:
            for key in ("first_name", "last_name", "username"):
                if key in user:
                    chat[key] = user[key]
        return chat

    def _new_message_id(self, chat_id: int) -> int:
        """Next message_id of a chat (incoming and outgoing share the sequence)."""
        with self._cond:
            self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
            return self._message_ids[chat_id]

    def push_update(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw Update (update_id assigned if missing) and wake pollers."""
        with self._cond:
            update = dict(raw)
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, int(update["update_id"])) + 1
            self._updates.append(update)
            self._cond.notify_all()
        return update

    def push_message(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Иван",
        last_name: str | None = "Петров",
        username: str | None = "ivan",
    ) -> dict[str, Any]:
        """Queue a private text message from a user (bot_command entity for a leading /)."""
        user = self._user(user_id, first_name, last_name, username)
        message: dict[str, Any] = {
            "message_id": self._new_message_id(user_id),
            "from": user,
            "chat": self._chat(user_id),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0] if text.split() else text
            length = len(command.encode("utf-16-le")) // 2
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self._store(user_id, message, text, [], None)
        return self.push_update({"message": message})

    def push_callback(
        self,
        user_id: int,
        data: str,
        message_id: int | None = None,
        *,
        message_text: str = "…",
        first_name: str = "Иван",
        last_name: str | None = "Петров",
        username: str | None = "ivan",
    ) -> dict[str, Any]:
        """Queue a callback_query pressed on a bot message of the user's private chat.

        message_id=None uses the bot's latest message in that chat; an unknown message is
        created (with message_text) so that later edits find it.
        """
        user = self._user(user_id, first_name, last_name, username)
        with self._cond:
            if message_id is None:
                message_id = self._latest_bot_message(user_id)
            stored = self._messages.get((user_id, message_id)) if message_id else None
            if stored is None:
                mid = message_id if message_id is not None else self._new_message_id(user_id)
                self._message_ids[user_id] = max(self._message_ids.get(user_id, 0), mid)
                message = {
                    "message_id": mid, "from": dict(self.bot_user), "chat": self._chat(user_id),
                    "date": int(time.time()), "text": message_text,
                }
                stored = self._store(user_id, message, message_text, [], None)
            self._callback_counter += 1
            query_id = f"{user_id}{self._callback_counter:08d}"
            self._callback_ids.add(query_id)
            self._callback_chats[query_id] = user_id
            query = {
                "id": query_id,
                "from": user,
                "message": json.loads(json.dumps(stored.message)),
                "chat_instance": f"-{abs(user_id) * 7919 + 13}",
                "data": data,
            }
        return self.push_update({"callback_query": query})

    def push_document(
        self,
        user_id: int,
        content: bytes,
        file_name: str,
        mime_type: str | None = None,
        caption: str | None = None,
        *,
        first_name: str = "Иван",
        last_name: str | None = "Петров",
        username: str | None = "ivan",
    ) -> dict[str, Any]:
        """Register a file and queue a private message carrying it as a document."""
        user = self._user(user_id, first_name, last_name, username)
        file_id = self.add_file(content, file_name, mime_type)
        message: dict[str, Any] = {
            "message_id": self._new_message_id(user_id),
            "from": user,
            "chat": self._chat(user_id),
            "date": int(time.time()),
            "document": self._document_json(self._files[file_id]),
        }
        if caption is not None:
            message["caption"] = caption
        self._store(user_id, message, None, [], None)
        return self.push_update({"message": message})

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed by an offset."""
        with self._cond:
            return list(self._updates)

    @property
    def active_polls(self) -> int:
        """Number of getUpdates requests currently waiting."""
        with self._cond:
            return self._active_polls

    # -- files -----------------------------------------------------------------------------

    def add_file(self, content: bytes, file_name: str, mime_type: str | None = None) -> str:
        """Register downloadable bytes; return their file_id."""
        with self._cond:
            self._file_counter += 1
            n = self._file_counter
            suffix = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
            mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
            stored = _File(
                file_id=f"BQACAgIAAxkBAAIfake{n:06d}",
                file_unique_id=f"AgADfake{n:06d}",
                file_name=file_name,
                mime_type=mime,
                content=bytes(content),
                file_path=f"documents/file_{n}.{suffix}",
            )
            self._files[stored.file_id] = stored
            self._file_paths[stored.file_path] = stored.file_id
            return stored.file_id

    def file_content(self, file_id: str) -> bytes:
        """Bytes of a registered or uploaded file."""
        with self._cond:
            return self._files[file_id].content

    @staticmethod
    def _document_json(stored: _File) -> dict[str, Any]:
        """Document object for a registered file."""
        return {
            "file_name": stored.file_name,
            "mime_type": stored.mime_type,
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
        }

    # -- faults ----------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        description: str | None = None,
        *,
        chat_id: int | None = None,
        body: bytes | None = None,
    ) -> None:
        """Answer the next `times` calls of method (to chat_id, if given) with an error.

        body replaces the JSON answer with raw bytes (e.g. an nginx HTML 502 page).
        """
        with self._cond:
            self._faults.append(
                _Rule(method.lower(), times, chat_id, status=status, retry_after=retry_after,
                      description=description, body=body)
            )

    def delay_next(
        self, method: str, seconds: float, times: int = 1, *, chat_id: int | None = None
    ) -> None:
        """Delay the answer to the next `times` calls of method by seconds."""
        with self._cond:
            self._delays.append(_Rule(method.lower(), times, chat_id, seconds=seconds))

    def block_chat(self, chat_id: int) -> None:
        """Every call aimed at chat_id answers 403 'bot was blocked by the user'."""
        with self._cond:
            self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        """Undo block_chat."""
        with self._cond:
            self._blocked.discard(chat_id)

    def reset_faults(self) -> None:
        """Drop pending faults, delays and blocks."""
        with self._cond:
            self._faults.clear()
            self._delays.clear()
            self._blocked.clear()

    def _take_rule(self, rules_list: list[_Rule], method: str, chat_id: int | None) -> _Rule | None:
        """Consume one use of the first rule matching method and chat."""
        with self._cond:
            for rule in rules_list:
                if rule.method == method.lower() and rule.chat_id in (None, chat_id):
                    rule.times -= 1
                    if rule.times <= 0:
                        rules_list.remove(rule)
                    return rule
        return None

    @staticmethod
    def _fault_answer(rule: _Rule) -> tuple[int, dict[str, Any]]:
        """The Telegram-style error JSON of an injected fault."""
        if rule.status == 429:
            answer: dict[str, Any] = {
                "ok": False,
                "error_code": 429,
                "description": rule.description
                or f"Too Many Requests: retry after {rule.retry_after}",
                "parameters": {"retry_after": rule.retry_after},
            }
            return 429, answer
        description = rule.description or _FAULT_DESCRIPTIONS.get(rule.status)
        if description is None:
            try:
                description = HTTPStatus(rule.status).phrase
            except ValueError:
                description = "Error"
        return rule.status, {"ok": False, "error_code": rule.status, "description": description}

    # -- state -----------------------------------------------------------------------------

    def _store(
        self,
        chat_id: int,
        message: dict[str, Any],
        visible: str | None,
        entities: list[dict[str, Any]],
        markup: dict[str, Any] | None,
    ) -> _Stored:
        """Remember a message of a chat."""
        stored = _Stored(message, visible, entities, markup)
        with self._cond:
            key = (chat_id, int(message["message_id"]))
            if key not in self._messages and message.get("from", {}).get("id") == BOT_ID:
                heapq.heappush(self._bot_message_ids.setdefault(chat_id, []), -key[1])
            self._messages[key] = stored
            self._changed()
        return stored

    def _latest_bot_message(self, chat_id: int) -> int | None:
        """The id of the bot's latest message still in the chat (call with the lock held)."""
        heap = self._bot_message_ids.get(chat_id, [])
        while heap and (chat_id, -heap[0]) not in self._messages:
            heapq.heappop(heap)  # deleted
        return -heap[0] if heap else None

    def _changed(self) -> None:
        """Bump the version and wake whoever waits for a change (call with the lock held)."""
        with self._cond:
            self.version += 1
            self._cond.notify_all()

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Block until version > since (or timeout, or stop); return the version."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.version <= since and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self.version

    def alerts(self, chat_id: int, since: int = 0) -> list[dict[str, Any]]:
        """answerCallbackQuery texts shown in a chat after version `since`, oldest first."""
        with self._cond:
            return [dict(a) for a in self._alerts if a["chat_id"] == chat_id
                    and a["version"] > since]

    def commands_for(self, chat_id: int) -> list[dict[str, Any]]:
        """The command menu a private chat shows: its chat scope, else the default one."""
        with self._cond:
            for scope in ({"type": "chat", "chat_id": chat_id}, {"type": "default"}):
                key = self._commands_key({"scope": scope})
                if key in self.commands:
                    return list(self.commands[key])
            return []

    def forget_chats(self) -> None:
        """Drop every message, pending update, file and alert (a fresh start for a viewer)."""
        with self._cond:
            self._messages.clear()
            self._bot_message_ids.clear()
            self._updates.clear()
            self._alerts.clear()
            self._message_ids.clear()
            self._callback_ids.clear()
            self._callback_chats.clear()
            self._changed()

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """Current state of a message (after edits), None if unknown or deleted."""
        with self._cond:
            stored = self._messages.get((chat_id, message_id))
            return json.loads(json.dumps(stored.message)) if stored else None

    def chat_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Messages of a chat as it looks now (deleted ones gone), oldest first."""
        with self._cond:
            keys = sorted(k for k in self._messages if k[0] == chat_id)
            return [json.loads(json.dumps(self._messages[k].message)) for k in keys]

    # -- HTTP dispatch ---------------------------------------------------------------------

    def _dispatch(
        self, verb: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes, str] | tuple[int, bytes, str, dict[str, str]]:
        """Answer one HTTP request: (status, body, content type[, extra headers])."""
        started = time.time()
        url = urlsplit(raw_path)
        path = unquote(url.path)
        call = Call(method="", params={}, files={}, time=started, http_method=verb)
        raw_body: bytes | None = None
        try:
            if path.startswith("/file/bot"):
                token, _, file_path = path[len("/file/bot") :].partition("/")
                call.method, call.token = "downloadFile", token
                call.params = {"file_path": file_path}
                status, answer, raw_body = self._download(call)
            elif path.startswith("/bot"):
                token, _, method = path[len("/bot") :].partition("/")
                call.token = token
                call.method = _CANONICAL.get(method.lower(), method)
                self._parse_params(call, url.query, headers, body)
                status, answer = self._process(call)
            else:
                status, answer = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        except ApiError as exc:
            status, answer = exc.code, self._error(exc)
        except Exception:  # noqa: BLE001 - a fake bug must show up in the test, not hang it
            trace = traceback.format_exc()
            with self._cond:
                self.errors.append(trace)
            status = 500
            answer = {"ok": False, "error_code": 500, "description": f"fake Bot API bug: {trace}"}
        self._record(call, status, answer)
        if raw_body is not None:
            return status, raw_body, "application/octet-stream"
        if isinstance(answer.get("_raw"), bytes):
            return status, answer["_raw"], "text/html"
        payload = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        return status, payload, "application/json"

    def _record(self, call: Call, status: int, answer: dict[str, Any]) -> None:
        """Append a finished call and wake waiters."""
        call.status = status
        call.response = {k: v for k, v in answer.items() if k != "_raw"}
        call.finished = time.time()
        with self._cond:
            call.index = len(self._calls)
            self._calls.append(call)
            self._cond.notify_all()

    @staticmethod
    def _error(exc: ApiError) -> dict[str, Any]:
        """Telegram error JSON."""
        answer: dict[str, Any] = {
            "ok": False, "error_code": exc.code, "description": exc.description,
        }
        if exc.parameters:
            answer["parameters"] = exc.parameters
        return answer

    @staticmethod
    def _parse_params(call: Call, query: str, headers: Mapping[str, str], body: bytes) -> None:
        """Merge query string and body (form, multipart or JSON) into decoded params."""
        raw: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        content_type = ""
        for key, value in headers.items():
            if key.lower() == "content-type":
                content_type = value
        kind = content_type.split(";")[0].strip().lower()
        if body:
            if kind == "multipart/form-data":
                fields, call.files = parse_multipart(body, content_type)
                raw.update(fields)
            elif kind == "application/json":
                try:
                    decoded = json.loads(body)
                except ValueError:
                    raise ApiError(400, "Bad Request: can't parse JSON encoded request") from None
                if not isinstance(decoded, dict):
                    raise ApiError(400, "Bad Request: JSON object expected")
                raw.update(decoded)
            else:
                raw.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        call.params = {key: _decode_value(key, value) for key, value in raw.items()}

    def _process(self, call: Call) -> tuple[int, dict[str, Any]]:
        """Token, faults, blocks, validation, then the method itself."""
        if self.token is not None and call.token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        implementation = _METHODS.get(call.method.lower())
        if implementation is None:
            description = "Not Found: method not found"
            return 404, {"ok": False, "error_code": 404, "description": description}
        if self.delay > 0 and call.method.lower() != "getupdates":
            self._stopping.wait(self.delay)
        delay = self._take_rule(self._delays, call.method, call.chat_id)
        if delay is not None:
            self._stopping.wait(delay.seconds)
        fault = self._take_rule(self._faults, call.method, call.chat_id)
        if fault is not None:
            status, answer = self._fault_answer(fault)
            if fault.body is not None:
                answer["_raw"] = fault.body
            return status, answer
        if call.chat_id is not None:
            with self._cond:
                blocked = call.chat_id in self._blocked
            if blocked:
                return 403, {"ok": False, "error_code": 403, "description": _BLOCKED}
        rejected = rules.check_request(call.method, call.params, strict=self.strict)
        if rejected is not None:
            code, description = rejected
            return code, {"ok": False, "error_code": code, "description": description}
        result = implementation(self, call)
        return 200, {"ok": True, "result": result}

    def _download(self, call: Call) -> tuple[int, dict[str, Any], bytes | None]:
        """Serve /file/bot<token>/<file_path>."""
        not_found = {"ok": False, "error_code": 404, "description": "Not Found"}
        if self.token is not None and call.token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, None
        delay = self._take_rule(self._delays, call.method, None)
        if delay is not None:
            self._stopping.wait(delay.seconds)
        fault = self._take_rule(self._faults, call.method, None)
        if fault is not None:
            status, answer = self._fault_answer(fault)
            if fault.body is not None:
                answer["_raw"] = fault.body
            return status, answer, None
        with self._cond:
            file_id = self._file_paths.get(call.params["file_path"])
            stored = self._files.get(file_id) if file_id else None
        if stored is None:
            return 404, not_found, None
        return 200, {"ok": True, "result": {"file_size": len(stored.content)}}, stored.content

    # -- methods ---------------------------------------------------------------------------

    def _target_chat(self, call: Call) -> int:
        """chat_id of a send, checked against require_known_chat."""
        chat_id = call.chat_id
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat not found")
        with self._cond:
            known = chat_id in self._users or chat_id in self._message_ids
        if self.require_known_chat and not known:
            if chat_id > 0:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _m_get_me(self, call: Call) -> Any:
        """getMe."""
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _m_get_updates(self, call: Call) -> Any:
        """getUpdates: offset confirmation, limit, allowed_updates and a real long poll."""
        params = call.params
        offset = _int_param(params, "offset", 0)
        limit = min(max(int(_int_param(params, "limit", 100) or 100), 1), 100)
        deadline = time.monotonic() + max(int(_int_param(params, "timeout", 0) or 0), 0)
        with self._cond:
            self._confirm_updates(offset, params.get("allowed_updates"))
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            self._active_polls += 1
            try:
                return self._wait_for_updates(generation, limit, deadline)
            finally:
                self._active_polls -= 1

    def _confirm_updates(self, offset: Any, allowed: Any) -> None:
        """Apply a poll's allowed_updates and drop the updates its offset confirms (lock held)."""
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES - {
                "chat_member", "message_reaction", "message_reaction_count",
            }
        if offset and offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset and offset < 0:
            self._updates = self._updates[offset:]

    def _wait_for_updates(self, generation: int, limit: int, deadline: float) -> Any:
        """Long-poll until updates arrive, the deadline passes, or a newer poll conflicts."""
        while True:
            if self._stopping.is_set():
                return []
            if self._poll_generation != generation:
                raise ApiError(409, _CONFLICT)
            self._updates = [u for u in self._updates if self._is_allowed(u)]
            if self._updates:
                return json.loads(json.dumps(self._updates[:limit]))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._cond.wait(remaining)

    def _is_allowed(self, update: dict[str, Any]) -> bool:
        """Whether an update's type passes the current allowed_updates."""
        kinds = [key for key in update if key != "update_id"]
        return not kinds or any(kind in self._allowed_updates for kind in kinds)

    def _m_send_message(self, call: Call) -> Any:
        """sendMessage."""
        chat_id = self._target_chat(call)
        text = str(call.params["text"])
        visible, entities = rules.parse_text(
            text, _mode(call.params), strict=self.strict
        )
        markup = _normal_markup(call.params.get("reply_markup"))
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "from": dict(self.bot_user),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": visible,
        }
        if entities:
            message["entities"] = entities
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._store(chat_id, message, visible, entities, _inline(markup))
        return message

    def _m_send_document(self, call: Call) -> Any:
        """sendDocument: a multipart upload, a known file_id, or (refused) a URL."""
        chat_id = self._target_chat(call)
        upload = call.files.get("document")
        if upload is not None:
            filename, content = upload
            if not content:
                raise ApiError(400, "Bad Request: file must be non-empty")
            if len(content) > MAX_UPLOAD_SIZE:
                raise ApiError(413, "Request Entity Too Large")
            file_id = self.add_file(content, filename or "document")
        else:
            reference = call.params.get("document")
            if not isinstance(reference, str) or not reference:
                raise ApiError(400, "Bad Request: there is no document in the request")
            if reference.startswith(("http://", "https://")):
                raise ApiError(400, "Bad Request: failed to get HTTP URL content")
            with self._cond:
                if reference not in self._files:
                    raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            file_id = reference
        with self._cond:
            document = self._document_json(self._files[file_id])
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "from": dict(self.bot_user),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "document": document,
        }
        caption = call.params.get("caption")
        if caption:
            visible, entities = rules.parse_text(
                str(caption), _mode(call.params), strict=self.strict
            )
            message["caption"] = visible
            if entities:
                message["caption_entities"] = entities
        markup = _normal_markup(call.params.get("reply_markup"))
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._store(chat_id, message, None, [], _inline(markup))
        return message

    def _stored_for_edit(self, call: Call) -> _Stored | None:
        """The bot's own message an edit targets; None for inline messages."""
        if call.params.get("inline_message_id"):
            return None
        chat_id = self._target_chat(call)
        message_id = call.params.get("message_id")
        with self._cond:
            stored = (
                self._messages.get((chat_id, message_id)) if isinstance(message_id, int) else None
            )
        if stored is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if stored.message.get("from", {}).get("id") != BOT_ID:
            raise ApiError(400, "Bad Request: message can't be edited")
        return stored

    def _m_edit_message_text(self, call: Call) -> Any:
        """editMessageText, with 'message is not modified' detection."""
        stored = self._stored_for_edit(call)
        if stored is None:
            return True
        if stored.visible is None or "text" not in stored.message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        visible, entities = rules.parse_text(
            str(call.params["text"]), _mode(call.params), strict=self.strict
        )
        markup = _inline(_normal_markup(call.params.get("reply_markup")))
        with self._cond:
            if (visible, entities, markup) == (stored.visible, stored.entities, stored.markup):
                raise ApiError(400, rules.NOT_MODIFIED)
            stored.visible, stored.entities = visible, entities
            stored.message["text"] = visible
            stored.message.pop("entities", None)
            if entities:
                stored.message["entities"] = entities
            return self._edited(stored, markup)

    def _m_edit_message_reply_markup(self, call: Call) -> Any:
        """editMessageReplyMarkup, with 'message is not modified' detection."""
        stored = self._stored_for_edit(call)
        if stored is None:
            return True
        markup = _inline(_normal_markup(call.params.get("reply_markup")))
        with self._cond:
            if markup == stored.markup:
                raise ApiError(400, rules.NOT_MODIFIED)
            return self._edited(stored, markup)

    def _edited(self, stored: _Stored, markup: dict[str, Any] | None) -> Any:
        """Store an edit's new markup and edit date, tell the watchers, return the message."""
        stored.markup = markup
        message = stored.message
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        self._changed()
        return json.loads(json.dumps(message))

    def _m_delete_message(self, call: Call) -> Any:
        """deleteMessage."""
        chat_id = self._target_chat(call)
        key = (chat_id, call.params.get("message_id"))
        with self._cond:
            if key not in self._messages:
                raise ApiError(400, "Bad Request: message to delete not found")
            del self._messages[key]
            self._changed()
        return True

    def _m_answer_callback_query(self, call: Call) -> Any:
        """answerCallbackQuery for a pushed callback query."""
        query_id = str(call.params.get("callback_query_id", ""))
        with self._cond:
            if query_id not in self._callback_ids:
                raise ApiError(
                    400,
                    "Bad Request: query is too old and response timeout expired or query ID is "
                    "invalid",
                )
            text = call.params.get("text")
            if text:
                self.version += 1
                self._alerts.append({
                    "version": self.version, "chat_id": self._callback_chats.get(query_id),
                    "text": str(text), "show_alert": bool(call.params.get("show_alert")),
                })
                self._cond.notify_all()
        return True

    def _m_get_file(self, call: Call) -> Any:
        """getFile for a registered or uploaded file."""
        file_id = str(call.params.get("file_id", ""))
        with self._cond:
            stored = self._files.get(file_id)
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD_SIZE:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    @staticmethod
    def _commands_key(params: Mapping[str, Any]) -> str:
        """Key of a command list: its scope and language."""
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def _m_set_my_commands(self, call: Call) -> Any:
        """setMyCommands."""
        commands = call.params.get("commands")
        with self._cond:
            self.commands[self._commands_key(call.params)] = list(commands or [])
        return True

    def _m_delete_my_commands(self, call: Call) -> Any:
        """deleteMyCommands."""
        with self._cond:
            self.commands.pop(self._commands_key(call.params), None)
        return True

    def default_commands(self) -> list[dict[str, Any]]:
        """Commands set for the default scope and no language."""
        with self._cond:
            return list(self.commands.get(self._commands_key({}), []))

    def _m_delete_webhook(self, call: Call) -> Any:
        """deleteWebhook (drop_pending_updates empties the queue)."""
        if call.params.get("drop_pending_updates"):
            with self._cond:
                self._updates.clear()
        return True


def _int_param(params: Mapping[str, Any], name: str, default: int) -> Any:
    """A parameter when it is an int, else the default (Telegram ignores other types here)."""
    value = params.get(name)
    return value if isinstance(value, int) else default


def _mode(params: Mapping[str, Any]) -> str | None:
    """parse_mode parameter if it is a string."""
    mode = params.get("parse_mode")
    return mode if isinstance(mode, str) else None


def _normal_markup(raw: Any) -> dict[str, Any] | None:
    """reply_markup as a dict (already validated by check_request)."""
    try:
        return rules.parse_markup(raw)
    except ValueError:
        return None


def _inline(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """Only inline keyboards stay attached to a message; an empty one counts as none."""
    if markup is None or not markup.get("inline_keyboard"):
        return None
    return {"inline_keyboard": markup["inline_keyboard"]}


_METHODS: dict[str, Callable[[FakeBotAPI, Call], Any]] = {
    "getme": FakeBotAPI._m_get_me,
    "getupdates": FakeBotAPI._m_get_updates,
    "sendmessage": FakeBotAPI._m_send_message,
    "senddocument": FakeBotAPI._m_send_document,
    "editmessagetext": FakeBotAPI._m_edit_message_text,
    "editmessagereplymarkup": FakeBotAPI._m_edit_message_reply_markup,
    "answercallbackquery": FakeBotAPI._m_answer_callback_query,
    "deletemessage": FakeBotAPI._m_delete_message,
    "getfile": FakeBotAPI._m_get_file,
    "setmycommands": FakeBotAPI._m_set_my_commands,
    "deletemycommands": FakeBotAPI._m_delete_my_commands,
    "deletewebhook": FakeBotAPI._m_delete_webhook,
}
_CANONICAL = {
    name.lower(): name
    for name in (
        "getMe", "getUpdates", "sendMessage", "sendDocument", "editMessageText",
        "editMessageReplyMarkup", "answerCallbackQuery", "deleteMessage", "getFile",
        "setMyCommands", "deleteMyCommands", "deleteWebhook",
    )
}

