"""REGISTRATION=approve: a newcomer's request goes to every admin; the first answer wins."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from requests import RequestException
from telebot import types
from telebot.apihelper import ApiException

from handlers import keyboards, texts
from handlers.context import Ctx
from handlers.keyboards import button
from handlers.middleware import display_name
from handlers.routing import ROLE_ADMIN, Args, BadButton
from inventory import access
from inventory.errors import AlreadyDecided, Locked, NotAllowed

if TYPE_CHECKING:
    from dispatch import DevtrackBot
    from models import AccessRequest

logger = logging.getLogger(__name__)

PREFIX = "acc"
OK, NO = "ok", "no"


def request_text(request: AccessRequest) -> str:
    """What admins see: Telegram name, @username, email, and a warning for imported emails."""
    username = f"@{texts.e(request.username)}" if request.username else texts.ACCESS_NO_USERNAME
    lines = [texts.ACCESS_REQUEST.format(name=texts.e(request.name or "—"), username=username,
                                         email=texts.e(request.email))]
    if request.known:
        lines += ["", texts.ACCESS_KNOWN.format(
            devices=texts.devices_count(access.held_count(request.email)))]
    return "\n".join(lines)


def decided_line(request: AccessRequest) -> str:
    """«Approved — admin» / «Rejected — admin» / «void»."""
    admin = texts.e(request.decided_by_name or "—")
    if request.status == access.APPROVED:
        return texts.ACCESS_APPROVED_BY.format(admin=admin)
    if request.decided_by_name:
        return texts.ACCESS_REJECTED_BY.format(admin=admin)
    return texts.ACCESS_VOID


def request_keyboard(request: AccessRequest) -> types.InlineKeyboardMarkup:
    """«Одобрить» / «Отклонить»."""
    return keyboards.rows([button(texts.BTN_APPROVE, PREFIX, request.id, OK),
                           button(texts.BTN_REJECT, PREFIX, request.id, NO)])


def ask_admins(ctx: Ctx, email: str) -> None:
    """Send the request to every admin; the newcomer gets the same reply whatever happened."""
    try:
        request = access.request_access(ctx.user_id, email, name=display_name(ctx.user),
                                        username=ctx.user.username or "", now=ctx.now)
    except Locked:
        request = None  # too many requests this hour: the reply stays the same
    ctx.dialog.clear()
    ctx.send(texts.REG_REQUEST_SENT)
    if request is None:
        return
    text, markup = request_text(request), request_keyboard(request)
    notices = []
    for chat_id in access.admin_chat_ids(ctx.config.admin_ids):
        message = ctx.bot.notifier.post(chat_id, text, markup)
        if message is not None:
            notices.append((chat_id, message.message_id))
    access.save_notices(request.id, notices)
    if not notices:
        # Telegram refuses messages to admins who never started the bot: nobody was asked.
        logger.warning("access request %s reached no admin (have they started the bot?)",
                       request.id)
    else:
        logger.info("access request %s sent to %d admins", request.id, len(notices))


def edit_copies(ctx: Ctx, request: AccessRequest) -> None:
    """Every admin's copy of the request now says who decided (no buttons)."""
    text = request_text(request) + "\n\n" + decided_line(request)
    # The pressed copy is edited through the button itself: an admin may answer before the
    # newcomer's update has saved the list of copies.
    ctx.show(text)
    for chat_id, message_id in access.notices_of(request):
        if chat_id == ctx.chat_id:
            continue
        try:
            ctx.bot.edit_message_text(text, chat_id, message_id, reply_markup=None)
        except (ApiException, RequestException) as exc:
            logger.info("could not update the request copy in chat %s: %s", chat_id,
                        type(exc).__name__)


def on_decide(ctx: Ctx, args: Args) -> None:
    """acc:<request id>:ok|no — the first admin's answer wins, the others are told who."""
    if args[1] not in (OK, NO):
        raise BadButton("unknown decision")
    admin_name = (ctx.person.name if ctx.person and ctx.person.name
                  else display_name(ctx.user)) or str(ctx.user_id)
    try:
        decision = access.decide(args.int(0), args[1] == OK, actor=ctx.person,
                                 actor_name=admin_name, actor_telegram_id=ctx.user_id,
                                 now=ctx.now, domains=ctx.config.email_domains)
    except AlreadyDecided as err:
        request = err.details["request"]
        ctx.answer(texts.ACCESS_ALREADY.format(decision=decided_line(request)), alert=True)
        ctx.show(request_text(request) + "\n\n" + decided_line(request))
        return
    except NotAllowed as err:
        request = err.details["request"]
        ctx.answer(texts.ACCESS_VOID, alert=True)
        edit_copies(ctx, request)
        ctx.bot.notifier.send_chat(request.telegram_id, texts.REG_REFUSED)
        return
    request = decision.request
    ctx.answer(texts.ACCESS_DONE)
    edit_copies(ctx, request)
    if decision.person is None:
        ctx.bot.notifier.send_chat(request.telegram_id, texts.REG_REJECTED)
        return
    ctx.bot.notifier.send(decision.person,
                          texts.REG_APPROVED.format(email=texts.e(decision.person.email)))
    ctx.bot.notifier.send(decision.person, texts.HELP_USER)


def register(bot: DevtrackBot) -> None:
    """Wire the admins' answer buttons (routed by the callback router)."""
    bot.routes.callback(PREFIX, on_decide, role=ROLE_ADMIN)
