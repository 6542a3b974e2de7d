"""/export (admins): devices as XLSX (default) or CSV, with the loan history of a chosen period."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from requests import RequestException
from telebot import types
from telebot.apihelper import ApiException

from handlers import admin_common, keyboards, texts
from handlers.context import Ctx, ctx_of
from handlers.keyboards import button
from handlers.routing import ROLE_ADMIN, Args, BadButton
from inventory import admin_export
from inventory.clock import local_date

if TYPE_CHECKING:
    from dispatch import DevtrackBot

logger = logging.getLogger(__name__)

PREFIX = "axp"
KINDS = ("xlsx", "csv")
PERIODS = (30, 90, 365)  # days of loan history offered
ALL, NONE = "all", "none"
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024  # what Telegram accepts from a bot


def on_export(message: types.Message) -> None:
    """/export — the format (XLSX first: it holds both sheets)."""
    ctx = ctx_of(message)
    ctx.send(texts.EXPORT_CHOOSE, keyboards.rows(
        [button(texts.BTN_EXPORT_XLSX, PREFIX, "f", "xlsx"),
         button(texts.BTN_EXPORT_CSV, PREFIX, "f", "csv")]))


def ask_period(ctx: Ctx, kind: str) -> None:
    """How much loan history goes with the devices."""
    periods = [button(texts.BTN_PERIOD_DAYS.format(days=texts.days(days)), PREFIX, "go", kind,
                      days) for days in PERIODS]
    ctx.show(texts.EXPORT_ASK_PERIOD, keyboards.rows(
        periods, [button(texts.BTN_PERIOD_ALL, PREFIX, "go", kind, ALL)],
        [button(texts.BTN_PERIOD_NONE, PREFIX, "go", kind, NONE)]))


def period_text(ctx: Ctx, days: int | None) -> str:
    """«за 30 дней (с 27.10.2026)» or «за всё время»."""
    if days is None:
        return texts.EXPORT_PERIOD_ALL
    start = local_date(ctx.now - timedelta(days=days), ctx.config)
    return texts.EXPORT_PERIOD_DAYS.format(days=texts.days(days), start=texts.fmt_date(start))


def send_export(ctx: Ctx, kind: str, period: str) -> None:
    """Build the files and send them, devices first."""
    history = period != NONE
    days = int(period) if history and period != ALL else None
    ctx.answer()
    result = admin_export.export(kind, days=days, history=history, now=ctx.now, today=ctx.today,
                                 tz=ctx.config.tz, actor=ctx.person)
    when = period_text(ctx, days)
    for index, (suffix, data) in enumerate(result.files):
        if index == 0 and result.loans is not None and kind == "xlsx":
            caption = texts.EXPORT_CAPTION.format(devices=result.devices, period=when,
                                                  loans=result.loans)
        elif index == 0:
            caption = texts.EXPORT_CAPTION_DEVICES.format(devices=result.devices)
        else:
            caption = texts.EXPORT_CAPTION_LOANS.format(period=when, loans=result.loans)
        if len(data) > MAX_DOCUMENT_BYTES:
            ctx.send(texts.EXPORT_TOO_BIG.format(limit=MAX_DOCUMENT_BYTES // (1024 * 1024)))
            return
        name = f"devtrack-{ctx.today:%Y-%m-%d}.{suffix}"
        try:
            ctx.bot.send_document(ctx.chat_id, data, visible_file_name=name, caption=caption)
        except (ApiException, RequestException) as exc:
            logger.warning("could not send the export to %s: %s", ctx.user_id,
                           type(exc).__name__)
            ctx.send(texts.EXPORT_SEND_FAILED)
            return


def on_button(ctx: Ctx, args: Args) -> None:
    """axp:f:<kind> — ask the period; axp:go:<kind>:<days|all|none> — send the files."""
    action, kind = args[0], args.choice(1, KINDS)
    if action == "f":
        ask_period(ctx, kind)
    elif action == "go":
        send_export(ctx, kind, args.choice(2, (ALL, NONE, *map(str, PERIODS))))
    else:
        raise BadButton(action)


def register(bot: DevtrackBot) -> None:
    """Wire /export and its buttons (admins only)."""
    bot.register_message_handler(on_export, commands=["export"], func=admin_common.is_admin)
    bot.routes.callback(PREFIX, on_button, role=ROLE_ADMIN)
