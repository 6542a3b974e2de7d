"""Outgoing mail through the standard library's smtplib (SMTP_URL, SMTP_FROM)."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage

from config import SmtpSettings

logger = logging.getLogger(__name__)

TIMEOUT = 15


class MailError(Exception):
    """The message could not be handed to the mail server."""


def send_mail(settings: SmtpSettings, to: str, subject: str, body: str) -> None:
    """Send one plain-text message; MailError (logged without the body) on any failure."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        if settings.ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=TIMEOUT,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT)
        with client:
            if settings.starttls:
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                client.login(settings.user, settings.password)
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        # Never the body (it holds the code) and never the password.
        logger.warning("mail to %s via %s:%s failed: %s", to, settings.host, settings.port,
                       type(exc).__name__)
        raise MailError(type(exc).__name__) from exc
    logger.info("mail sent to %s via %s:%s", to, settings.host, settings.port)
