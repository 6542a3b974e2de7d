"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, for email tests."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from config import SmtpSettings

CODE_RE = re.compile(r"\b(\d{6})\b")


def free_port() -> int:
    """An ephemeral port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Inbox:
    """Every message the server accepted, with its envelope recipients."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """aiosmtpd hook: store the message."""
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(
                envelope.original_content or envelope.content, policy=email.policy.default)))
        return "250 Message accepted"

    def to(self, address: str) -> list[Message]:
        """Messages delivered to an address."""
        with self.lock:
            return [m for rcpt, m in self.messages if address in rcpt]

    def code_for(self, address: str) -> str:
        """The six-digit code of the latest message to an address."""
        found = self.to(address)
        assert found, f"no mail to {address}; got mail to {[r for r, _ in self.messages]}"
        body = found[-1].get_content()
        match = CODE_RE.search(body)
        assert match, body
        return match.group(1)


class SmtpServer:
    """Start/stop an aiosmtpd controller on an ephemeral port of 127.0.0.1."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        """Listen."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()

    @property
    def url(self) -> str:
        """SMTP_URL of this server."""
        return f"smtp://127.0.0.1:{self.port}"

    def settings(self, sender: str = "devtrack@company.ru") -> SmtpSettings:
        """Config.smtp pointing at this server."""
        return SmtpSettings(host="127.0.0.1", port=self.port, sender=sender)
