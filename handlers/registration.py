"""Registration: anyone not yet registered is asked for a work email first.

REGISTRATION decides what proves the email: a mailed code (email), an admin's answer
(approve, see handlers/approvals.py) or nothing (open). Until then nothing of the inventory shows.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from telebot import types

from handlers import approvals, browse, devtools, texts
from handlers.context import Ctx, ctx_of
from handlers.middleware import display_name
from inventory import access, mailer, people
from inventory import devtools as devtools_domain
from inventory.clock import local_time
from inventory.devtools import check_code
from inventory.errors import (
    CodeExpired,
    DomainNotAllowed,
    EmailTaken,
    InvalidEmail,
    Locked,
    RegistrationRefused,
    WrongCode,
)

if TYPE_CHECKING:
    from dispatch import DevtrackBot

logger = logging.getLogger(__name__)

STATE = "register:email"
CODE_STATE = "register:code"


def unregistered(update: Any) -> bool:
    """Filter: the sender has no active registration."""
    return ctx_of(update).person is None


def ask_email(ctx: Ctx) -> None:
    """Greet and ask for a work email."""
    text = texts.ASK_EMAIL
    if ctx.config.email_domains:
        text += "\n" + texts.ASK_EMAIL_DOMAINS.format(domains=domains_text(ctx))
    ctx.send(text)


def domains_text(ctx: Ctx) -> str:
    """'@a.ru или @b.ru' for the configured domains."""
    return texts.domains_text(ctx.config.email_domains)


def on_message(message: types.Message) -> None:
    """Any message from an unregistered person: /start greets, text is tried as an email."""
    ctx = ctx_of(message)
    text = without_stray_code(ctx, message)
    if text.startswith("/start"):
        if not waiting(ctx):
            payload = text.split(maxsplit=1)[1] if " " in text else ""
            ctx.dialog.set(STATE, start_payload=payload)
            ask_email(ctx)
        return
    if waiting(ctx):
        return
    if ctx.dialog.state == CODE_STATE and "@" not in text and not text.startswith("/"):
        # A sticker or a stray code here keeps the code step: the mailed code still works.
        if text:
            on_code(ctx, text)
        else:
            ctx.send(texts.REG_CODE_HINT)
        return
    first_contact = ctx.dialog.state not in (STATE, CODE_STATE) and "@" not in text
    if not text or text.startswith("/") or first_contact:
        if ctx.dialog.state != STATE:
            ctx.dialog.set(STATE, start_payload=ctx.dialog.data.get("start_payload", ""))
        ask_email(ctx)
        return
    email = typed_email(ctx, text)
    if email is not None:
        register_by_mode(ctx, email)


def without_stray_code(ctx: Ctx, message: types.Message) -> str:
    """The typed text; empty when it was DEVELOPER_CODE (deleted and counted as a guess)."""
    if check_code(message.text or message.caption or "", ctx.config.developer_code):
        # Never echo DEVELOPER_CODE back; a guess counts towards the developer lock-out.
        devtools.delete_code_message(ctx, message)
        devtools_domain.code_failed(ctx.user_id, None, ctx.now, "stray")
        return ""
    return (message.text or "").strip()


def typed_email(ctx: Ctx, text: str) -> str | None:
    """The email a person typed, or None after telling them why it is refused."""
    try:
        email = people.normalize_email(text)
        people.check_domain(email, ctx.config.email_domains)
    except InvalidEmail:
        ctx.send(texts.BAD_EMAIL.format(text=texts.e(text[:100])))
        return None
    except DomainNotAllowed as err:
        ctx.send(texts.DOMAIN_REFUSED.format(email=texts.e(err.details["email"]),
                                             domains=domains_text(ctx)))
        return None
    return email


def register_by_mode(ctx: Ctx, email: str) -> None:
    """Register at once, mail a code, or ask the admins, as REGISTRATION says."""
    mode = ctx.config.registration
    if mode == "open" or (mode == "approve" and ctx.config.is_bootstrap_admin(ctx.user_id)):
        # Bootstrap admins are trusted by the configuration: nobody else could approve them.
        register_now(ctx, email)
    elif mode == "email":
        send_code(ctx, email)
    else:
        approvals.ask_admins(ctx, email)


def waiting(ctx: Ctx) -> bool:
    """Tell a person whose request waits for an admin that it still does (True if so)."""
    if ctx.config.registration != "approve" or access.pending_request(ctx.user_id) is None:
        return False
    ctx.send(texts.REG_REQUEST_WAITING)
    return True


def register_now(ctx: Ctx, email: str) -> None:
    """Register the sender under an email they proved (or, with REGISTRATION=open, typed)."""
    try:
        person = people.register(
            ctx.user_id, email, name=display_name(ctx.user), username=ctx.user.username or "",
            domains=ctx.config.email_domains, now=ctx.now,
        )
    except RegistrationRefused:
        logger.info("registration refused: an admin deleted this person (user=%s)", ctx.user_id)
        ctx.dialog.set(STATE)
        ctx.send(texts.REG_REFUSED)
        return
    except EmailTaken as err:
        logger.warning("email already registered by another account: user=%s", ctx.user_id)
        ctx.dialog.set(STATE)
        ctx.send(texts.EMAIL_TAKEN.format(email=texts.e(err.details["email"])))
        return
    payload = ctx.dialog.data.get("start_payload", "")
    ctx.dialog.clear()
    ctx.person = person
    ctx.send(texts.REGISTERED.format(email=texts.e(person.email)))
    send_help(ctx)
    if payload:
        browse.open_payload(ctx, payload)


def locked_text(ctx: Ctx, until: datetime) -> str:
    """«Try again after HH:MM» in the configured zone."""
    return texts.REG_LOCKED.format(until=texts.fmt_time(local_time(until, ctx.config)))


def send_code(ctx: Ctx, email: str) -> None:
    """Mail a six-digit code (only to an eligible address) and ask for it: one reply for all."""
    payload = ctx.dialog.data.get("start_payload", "")
    try:
        issued = access.issue_code(ctx.user_id, email, now=ctx.now)
    except Locked as err:
        ctx.dialog.clear()
        ctx.send(locked_text(ctx, err.details["until"]))
        return
    if issued.code is not None and ctx.config.smtp is not None:
        # REGISTRATION=email needs SMTP_URL (config refuses it otherwise). The code row is
        # committed already: the mail server never holds a transaction open.
        try:
            mailer.send_mail(ctx.config.smtp, email, texts.MAIL_SUBJECT,
                             texts.MAIL_BODY.format(code=issued.code))
        except mailer.MailError:
            access.drop_code(issued.id)
            ctx.dialog.set(STATE, start_payload=payload)
            ctx.send(texts.REG_MAIL_FAILED)
            return
    ctx.dialog.set(CODE_STATE, start_payload=payload)
    ctx.send(texts.REG_ASK_CODE.format(email=texts.e(email)))


def on_code(ctx: Ctx, text: str) -> None:
    """The typed email code: register on a match, count a miss towards the lock-out."""
    if not any(ch.isdigit() for ch in text):
        ctx.send(texts.REG_CODE_HINT)
        return
    try:
        email = access.check_code(ctx.user_id, text, now=ctx.now)
    except WrongCode as err:
        ctx.send(texts.REG_CODE_WRONG.format(left=err.details["left"]))
        return
    except Locked as err:
        ctx.dialog.clear()
        ctx.send(locked_text(ctx, err.details["until"]))
        return
    except CodeExpired:
        ctx.dialog.update(STATE)
        ctx.send(texts.REG_CODE_EXPIRED)
        return
    register_now(ctx, email)


def unregistered_callback(call: types.CallbackQuery) -> bool:
    """Filter: a button from someone not registered (an admin's request answers go through)."""
    ctx = ctx_of(call)
    if ctx.person is not None:
        return False
    return not (ctx.is_admin and (call.data or "").startswith(approvals.PREFIX + ":"))


def on_callback(call: types.CallbackQuery) -> None:
    """A button pressed by someone who is not registered."""
    ctx = ctx_of(call)
    ctx.answer(texts.NEED_REGISTRATION, alert=True)
    if not waiting(ctx):
        ask_email(ctx)


def help_text(ctx: Ctx) -> str:
    """Help for the sender's role."""
    text = texts.HELP_USER
    if ctx.is_admin:
        text += texts.HELP_ADMIN
    if ctx.is_developer:
        text += texts.HELP_DEVELOPER
    return text


def send_help(ctx: Ctx) -> None:
    """Show the help for the sender's role."""
    ctx.send(help_text(ctx))


def register(bot: DevtrackBot) -> None:
    """Wire the registration handlers (they must come before every other handler)."""
    bot.register_message_handler(on_message, func=unregistered, content_types=["text", "document",
                                 "photo", "sticker", "voice", "video", "audio", "contact",
                                 "location"])
    bot.register_callback_query_handler(on_callback, func=unregistered_callback)
