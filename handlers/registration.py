"""Registration: anyone not yet registered is asked for a work email first."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from telebot import types

from handlers import browse, devtools, texts
from handlers.context import Ctx, ctx_of
from handlers.middleware import display_name
from inventory import people
from inventory.devtools import check_code
from inventory.errors import DomainNotAllowed, EmailTaken, InvalidEmail

if TYPE_CHECKING:
    from dispatch import DevtrackBot

logger = logging.getLogger(__name__)

STATE = "register:email"


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
    """'@a.ru или @b.ru'."""
    return " или ".join(f"@{texts.e(d)}" for d in ctx.config.email_domains)


def on_message(message: types.Message) -> None:
    """Any message from an unregistered person: /start greets, text is tried as an email."""
    ctx = ctx_of(message)
    text = (message.text or "").strip()
    if text.startswith("/start"):
        payload = text.split(maxsplit=1)[1] if " " in text else ""
        ctx.dialog.set(STATE, start_payload=payload)
        ask_email(ctx)
        return
    if ctx.is_developer and check_code(text, ctx.config.developer_code):
        # After a wipe a developer is unregistered again: never echo the code back.
        devtools.delete_code_message(ctx, message)
        ask_email(ctx)
        return
    first_contact = ctx.dialog.state != STATE and "@" not in text
    if not text or text.startswith("/") or first_contact:
        if ctx.dialog.state != STATE:
            ctx.dialog.set(STATE)
        ask_email(ctx)
        return
    try:
        person = people.register(
            ctx.user_id, text, name=display_name(ctx.user), username=ctx.user.username or "",
            domains=ctx.config.email_domains, now=ctx.now,
        )
    except InvalidEmail:
        ctx.send(texts.BAD_EMAIL.format(text=texts.e(text[:100])))
        return
    except DomainNotAllowed as err:
        ctx.send(texts.DOMAIN_REFUSED.format(email=texts.e(err.details["email"]),
                                             domains=domains_text(ctx)))
        return
    except EmailTaken as err:
        logger.warning("email already registered by another account: user=%s", ctx.user_id)
        ctx.send(texts.EMAIL_TAKEN.format(email=texts.e(err.details["email"])))
        return
    payload = ctx.dialog.data.get("start_payload", "")
    ctx.dialog.clear()
    ctx.person = person
    ctx.send(texts.REGISTERED.format(email=texts.e(person.email)))
    send_help(ctx)
    if payload:
        browse.open_payload(ctx, payload)


def on_callback(call: types.CallbackQuery) -> None:
    """A button pressed by someone who is not registered."""
    ctx = ctx_of(call)
    ctx.answer(texts.NEED_REGISTRATION, alert=True)
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
    bot.register_callback_query_handler(on_callback, func=unregistered)
