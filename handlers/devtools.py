"""Hidden developer tools: /dev menu, logs, exports, dumps, and guarded purge and wipe.

Only DEVELOPER_IDS see any of it: the command is filtered on the role (everyone else falls
through to the search), the buttons and the code step are routed with ROLE_DEVELOPER.
Purge and wipe show what will happen, take DEVELOPER_CODE typed back (the message is deleted),
lock out after three wrong codes, and send a dump as a backup before deleting anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from requests import RequestException
from telebot import types
from telebot.apihelper import ApiException

from handlers import affected, keyboards, texts
from handlers.context import Ctx, ctx_of
from handlers.keyboards import button
from handlers.routing import ROLE_DEVELOPER, Args, BadButton
from inventory import backup, devtools, export, legacy_apply, legacy_read
from inventory.clock import local_time
from inventory.numbers import ascii_digits
from notices import legacy_report

if TYPE_CHECKING:
    from dispatch import DevtrackBot

logger = logging.getLogger(__name__)

PREFIX = "dev"
CODE_STATE = "dev:code"
PURGE, WIPE = "purge", "wipe"
LOG_CHOICES = (50, 200)
MAX_LOG_LINES = 500
TEXT_LIMIT = 4096
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024  # what Telegram accepts from a bot
MB = 1024 * 1024


def developer_only(update: Any) -> bool:
    """Filter: the sender is a developer (anyone else falls through to the search)."""
    return ctx_of(update).is_developer


def audit(ctx: Ctx, action: str, **details: Any) -> None:
    """Audit a developer action and log it with the developer's Telegram id."""
    devtools.record(action, telegram_id=ctx.user_id, person=ctx.person, now=ctx.now, **details)


# --- menu ------------------------------------------------------------------------------------


def menu_keyboard() -> types.InlineKeyboardMarkup:
    """Every developer action as a button."""
    return keyboards.rows(
        [button(texts.BTN_DEV_LOG.format(count=n), PREFIX, "log", n) for n in LOG_CHOICES],
        [button(texts.BTN_DEV_LOG_FILE, PREFIX, "logfile")],
        [button(texts.BTN_DEV_EXPORT_CSV, PREFIX, "export", "csv"),
         button(texts.BTN_DEV_EXPORT_XLSX, PREFIX, "export", "xlsx")],
        [button(texts.BTN_DEV_DUMP, PREFIX, "dump")],
        [button(texts.BTN_DEV_LEGACY, PREFIX, "legacy")],
        [button(texts.BTN_DEV_PURGE, PREFIX, PURGE)],
        [button(texts.BTN_DEV_WIPE, PREFIX, WIPE)],
    )


def on_dev(message: types.Message) -> None:
    """/dev — the menu; `/dev log N` — the last N lines of the log."""
    ctx = ctx_of(message)
    args = (message.text or "").split()[1:]
    if args and args[0].lower() == "log":
        count = args[1] if len(args) > 1 else str(LOG_CHOICES[0])
        if len(args) > 2 or not ascii_digits(count) or not 1 <= int(count) <= MAX_LOG_LINES:
            ctx.send(texts.DEV_LOG_USAGE.format(limit=MAX_LOG_LINES))
            return
        send_log_tail(ctx, int(count))
        return
    show_menu(ctx)


def show_menu(ctx: Ctx) -> None:
    """The developer menu."""
    audit(ctx, "dev.menu")
    ctx.show(texts.DEV_MENU, menu_keyboard())


# --- files -----------------------------------------------------------------------------------


def deliver(ctx: Ctx, data: bytes, name: str, caption: str) -> bool:
    """Send a document to the developer; False (logged) when it is too big or refused."""
    if len(data) > MAX_DOCUMENT_BYTES:
        ctx.send(texts.DEV_FILE_TOO_BIG.format(size=round(len(data) / MB, 1),
                                               limit=MAX_DOCUMENT_BYTES // MB))
        return False
    try:
        ctx.bot.send_document(ctx.chat_id, data, visible_file_name=name, caption=caption)
    except (ApiException, RequestException) as exc:
        logger.warning("could not send %s to developer %s: %s", name, ctx.user_id,
                       type(exc).__name__)
        return False
    return True


# --- logs ------------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def log_chunks(title: str, lines: list[str], limit: int = TEXT_LIMIT) -> list[str]:
    """HTML messages (title, then lines in <pre>) whose visible text fits the limit each."""
    budget = limit - utf16_len(title) - 2
    pieces: list[str] = []
    step = max(1, budget // 2)  # a code point is at most two UTF-16 units
    for line in lines:
        pieces.extend([line[i:i + step] for i in range(0, len(line), step)] or [""])
    chunks: list[list[str]] = [[]]
    size = 0
    for piece in pieces:
        grow = utf16_len(piece) + 1
        if chunks[-1] and size + grow > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(piece)
        size += grow
    messages: list[str] = []
    for chunk in chunks:
        body = "\n".join(chunk)
        if not body.strip():
            continue
        pre = f"<pre>{texts.e(body)}</pre>"
        messages.append(f"{texts.e(title)}\n{pre}" if not messages else pre)
    return messages or [texts.e(title)]


def send_log_tail(ctx: Ctx, count: int) -> None:
    """The last `count` lines of LOG_FILE as text messages."""
    path = ctx.config.log_file
    lines = devtools.tail_lines(path, count)
    audit(ctx, "dev.log", lines=count, found=lines is not None)
    if lines is None:
        ctx.send(texts.DEV_LOG_MISSING.format(path=texts.e(path)))
        return
    if not any(line.strip() for line in lines):
        ctx.send(texts.DEV_LOG_EMPTY.format(path=texts.e(path)))
        return
    title = texts.DEV_LOG_TITLE.format(path=path, count=len(lines))
    for message in log_chunks(title, lines):
        ctx.send(message)


def send_log_file(ctx: Ctx) -> None:
    """LOG_FILE as a document (its end, if it is larger than Telegram allows)."""
    path = ctx.config.log_file
    found = devtools.read_log(path, MAX_DOCUMENT_BYTES)
    audit(ctx, "dev.logfile", found=found is not None)
    if found is None:
        ctx.send(texts.DEV_LOG_MISSING.format(path=texts.e(path)))
        return
    data, cut = found
    if not data.strip():
        ctx.send(texts.DEV_LOG_EMPTY.format(path=texts.e(path)))
        return
    caption = (texts.DEV_LOG_CAPTION_TAIL if cut else texts.DEV_LOG_CAPTION).format(
        path=texts.e(path))
    name = path.replace("\\", "/").rsplit("/", 1)[-1] or "devtrack.log"
    if not deliver(ctx, data, name, caption):
        ctx.send(texts.DEV_SEND_FAILED)


# --- export and dump -------------------------------------------------------------------------


def send_export(ctx: Ctx, kind: str) -> None:
    """Every device as CSV or XLSX."""
    data, count = export.export_file(kind)
    audit(ctx, "dev.export", format=kind, devices=count)
    name = f"devices-{ctx.today:%Y-%m-%d}.{kind}"
    if not deliver(ctx, data, name, texts.DEV_EXPORT_CAPTION.format(count=count)):
        ctx.send(texts.DEV_SEND_FAILED)


def send_dump(ctx: Ctx) -> None:
    """The whole database as a zip of JSON files."""
    try:
        dump = devtools.dump_database(ctx.now)
    except devtools.DumpFailed:
        logger.exception("dump for developer %s failed", ctx.user_id)
        audit(ctx, "dev.dump", ok=False)
        ctx.send(texts.DEV_DUMP_FAILED)
        return
    audit(ctx, "dev.dump", ok=True, rows=dump.total, bytes=len(dump.data))
    caption = texts.DEV_DUMP_CAPTION.format(rows=dump.total, version=texts.e(dump.schema_version),
                                            name=texts.e(dump.file_name))
    if not deliver(ctx, dump.data, dump.file_name, caption):
        ctx.send(texts.DEV_SEND_FAILED)


# --- switch-over from the predecessor bot ----------------------------------------------------


def send_legacy_report(ctx: Ctx) -> None:
    """Dry run of the switch-over import against LEGACY_DATABASE_URL, sent as a text file."""
    url = ctx.config.legacy_database_url
    if not url:
        # The URL comes only from the environment: a password typed here would stay in the chat.
        ctx.send(texts.DEV_LEGACY_NO_URL)
        return
    ctx.send(texts.DEV_LEGACY_RUNNING)
    tz = ctx.config.tz
    try:
        outcome = legacy_apply.dry_run(legacy_read.read_legacy(url), tz=tz, now=ctx.now,
                                       email_domains=ctx.config.email_domains)
    except legacy_read.LegacyError as exc:
        audit(ctx, "dev.legacy_dry_run", ok=False)
        ctx.send(texts.DEV_LEGACY_FAILED.format(error=texts.e(str(exc))))
        return
    plan = outcome.plan
    audit(ctx, "dev.legacy_dry_run", ok=True, issues=len(plan.issues),
          changes=plan.changes)
    report = legacy_report.render(outcome, source=legacy_read.safe_url(url),
                                  timezone=ctx.config.timezone,
                                  local=lambda moment: local_time(moment, ctx.config))
    caption = texts.DEV_LEGACY_CAPTION.format(issues=len(plan.issues),
                                              devices=plan.counts["devices"][0])
    name = f"legacy-dry-run-{ctx.today:%Y-%m-%d}.txt"
    if not deliver(ctx, report.encode("utf-8"), name, caption):
        ctx.send(texts.DEV_SEND_FAILED)


# --- guarded actions: purge and wipe ---------------------------------------------------------


def refuse_if_locked(ctx: Ctx) -> bool:
    """Tell a locked-out developer until when; True when locked."""
    until = devtools.locked_until(ctx.user_id, ctx.now)
    if until is None:
        return False
    audit(ctx, "dev.refused_locked", until=until)
    ctx.send(texts.DEV_LOCKED.format(until=texts.fmt_time(local_time(until, ctx.config))))
    return True


def show_purge_scopes(ctx: Ctx) -> None:
    """Purge, step 1: all free devices or one category."""
    counts = devtools.free_by_category()
    free = sum(c.free for c in counts)
    total = sum(c.total for c in counts)
    rows = [[button(texts.BTN_DEV_PURGE_ALL.format(free=free), PREFIX, PURGE, "all")]]
    rows += [[button(texts.BTN_DEV_PURGE_CATEGORY.format(name=c.category.name[:40], free=c.free),
                     PREFIX, PURGE, c.category.id)] for c in counts if c.free]
    rows.append([button(texts.BTN_BACK, PREFIX, "menu")])
    ctx.show(texts.DEV_PURGE_CHOOSE.format(free=free, total=total), keyboards.rows(*rows))


def ask_purge(ctx: Ctx, scope: str) -> None:
    """Purge, step 2: exactly what will be deleted, then ask for the code."""
    if refuse_if_locked(ctx):
        return
    plan = devtools.purge_plan(None if scope == "all" else int(scope))
    where = (texts.DEV_SCOPE_CATEGORY.format(name=texts.e(plan.category.name))
             if plan.category else texts.DEV_SCOPE_ALL)
    if not plan.devices:
        ctx.send(texts.DEV_PURGE_NOTHING.format(scope=where))
        return
    lines = [texts.DEV_PURGE_LINE.format(number=d.number, name=texts.e(d.name[:60]))
             for d in plan.devices[:devtools.PREVIEW]]
    if len(plan.devices) > devtools.PREVIEW:
        lines.append(texts.DEV_PURGE_MORE.format(count=len(plan.devices) - devtools.PREVIEW))
    category = plan.category.name if plan.category else ""
    ctx.dialog.set(CODE_STATE, action=PURGE, ids=plan.device_ids, category=category)
    audit(ctx, "dev.purge_asked", category=category or None, devices=len(plan.devices),
          held=plan.held)
    ctx.send(texts.DEV_PURGE_CONFIRM.format(scope=where, count=len(plan.devices),
                                            devices="\n".join(lines), held=plan.held,
                                            loans=plan.loans, queue=plan.queue),
             keyboards.cancel_keyboard())


def ask_wipe(ctx: Ctx) -> None:
    """Wipe: row counts of every table, then ask for the code."""
    if refuse_if_locked(ctx):
        return
    counts = backup.row_counts()
    lines = [texts.DEV_TABLE_LINE.format(title=texts.DEV_TABLE_TITLES.get(name, name),
                                         count=count) for name, count in counts.items()]
    ctx.dialog.set(CODE_STATE, action=WIPE)
    audit(ctx, "dev.wipe_asked", rows=counts)
    ctx.send(texts.DEV_WIPE_CONFIRM.format(tables="\n".join(lines)), keyboards.cancel_keyboard())


def delete_code_message(ctx: Ctx, message: types.Message) -> None:
    """Delete the message that holds a code; say so when Telegram refuses."""
    try:
        ctx.bot.delete_message(ctx.chat_id, message.message_id)
    except (ApiException, RequestException) as exc:
        logger.warning("could not delete the code message of developer %s: %s", ctx.user_id,
                       type(exc).__name__)
        ctx.send(texts.DEV_CODE_NOT_DELETED)


def typed_code(message: types.Message) -> str:
    """What the message says (text or caption)."""
    return (message.text or message.caption or "").strip()


def on_code(ctx: Ctx, message: types.Message) -> None:
    """The code step of purge and wipe: delete the message, check the code, back up, act."""
    typed = typed_code(message)
    if not typed:
        ctx.send(texts.DEV_CODE_EMPTY, keyboards.cancel_keyboard())
        return
    delete_code_message(ctx, message)
    action = str(ctx.dialog.data.get("action", ""))
    until = devtools.locked_until(ctx.user_id, ctx.now)
    if until is not None:
        ctx.dialog.clear()
        audit(ctx, "dev.refused_locked", until=until, for_action=action)
        ctx.send(texts.DEV_LOCKED.format(until=texts.fmt_time(local_time(until, ctx.config))))
        return
    if not devtools.check_code(typed, ctx.config.developer_code):
        left, locked = devtools.code_failed(ctx.user_id, ctx.person, ctx.now, action)
        if locked is not None:
            ctx.dialog.clear()
            ctx.send(texts.DEV_CODE_LOCKED.format(
                until=texts.fmt_time(local_time(locked, ctx.config))))
        else:
            ctx.send(texts.DEV_CODE_WRONG.format(left=left), keyboards.cancel_keyboard())
        return
    data = dict(ctx.dialog.data)
    ctx.dialog.clear()
    run = GUARDED.get(action)
    audit(ctx, devtools.CODE_OK, for_action=action)
    if run is None:
        ctx.send(texts.STALE_BUTTON)
        return
    ctx.send(texts.DEV_CODE_OK)
    run(ctx, data)


def send_backup(ctx: Ctx, action: str, title: str) -> bool:
    """Send the developer a dump before a destructive action; False (and told) if it failed."""
    dump: backup.DumpFile | None = None
    try:
        dump = devtools.dump_database(ctx.now)
    except devtools.DumpFailed:
        logger.exception("backup before %s failed", action)
        failure = texts.DEV_BACKUP_NOT_MADE
    else:
        caption = texts.DEV_BACKUP_CAPTION.format(action=title, rows=dump.total,
                                                  version=texts.e(dump.schema_version))
        if len(dump.data) > MAX_DOCUMENT_BYTES:
            failure = texts.DEV_BACKUP_TOO_BIG.format(limit=MAX_DOCUMENT_BYTES // MB)
        elif not deliver(ctx, dump.data, dump.file_name, caption):
            failure = texts.DEV_BACKUP_NOT_SENT
        else:
            audit(ctx, "dev.backup_sent", for_action=action, rows=dump.total,
                  bytes=len(dump.data))
            return True
    audit(ctx, "dev.backup_failed", for_action=action, stage=failure)
    ctx.send(texts.DEV_BACKUP_FAILED.format(what=failure))
    return False


def run_purge(ctx: Ctx, data: dict[str, Any]) -> None:
    """Back up, then delete the confirmed devices that are still free."""
    ids = [int(i) for i in data.get("ids", [])]
    if not send_backup(ctx, PURGE, texts.DEV_ACTION_PURGE):
        return
    waiting: list = []
    deleted = devtools.purge(ids, person=ctx.person, telegram_id=ctx.user_id, now=ctx.now,
                             category=str(data.get("category", "")), waiting=waiting)
    ctx.send(texts.DEV_PURGE_DONE.format(count=len(deleted)))
    if len(deleted) < len(ids):
        ctx.send(texts.DEV_PURGE_SKIPPED.format(count=len(ids) - len(deleted)))
    affected.device_deleted(ctx.bot.notifier, waiting)


def run_wipe(ctx: Ctx, data: dict[str, Any]) -> None:
    """Back up, then drop every table, apply the migrations again and seed the categories."""
    if not send_backup(ctx, WIPE, texts.DEV_ACTION_WIPE):
        return
    version, created = devtools.wipe_database(categories=ctx.config.categories,
                                              telegram_id=ctx.user_id, now=ctx.now)
    ctx.send(texts.DEV_WIPE_DONE.format(version=texts.e(version), categories=created))


GUARDED: dict[str, Callable[[Ctx, dict[str, Any]], None]] = {PURGE: run_purge, WIPE: run_wipe}


def is_stray_code(message: types.Message) -> bool:
    """Filter: someone sent DEVELOPER_CODE while no code was asked for."""
    ctx = ctx_of(message)
    if ctx.is_developer and ctx.dialog.state == CODE_STATE:
        return False
    return devtools.check_code(typed_code(message), ctx.config.developer_code)


def on_stray_code(message: types.Message) -> None:
    """Delete a code sent out of turn; answer as a search would, never confirming the code.

    Out of turn the code is a guess: it counts towards the lock-out like a wrong code, so the
    chat is no oracle for it.
    """
    ctx = ctx_of(message)
    delete_code_message(ctx, message)
    devtools.code_failed(ctx.user_id, ctx.person, ctx.now, "stray")
    ctx.send(texts.NOT_FOUND.format(query=texts.CODE_MASK))


# --- buttons ---------------------------------------------------------------------------------


def on_button(ctx: Ctx, args: Args) -> None:
    """dev:<action>:<args> — every developer button."""
    action, rest = args[0], args[1:]
    if action == "menu":
        show_menu(ctx)
    elif action == "log":
        count = rest.int(0)
        if not 1 <= count <= MAX_LOG_LINES:
            raise BadButton("log line count out of range")
        send_log_tail(ctx, count)
    elif action == "logfile":
        send_log_file(ctx)
    elif action == "export":
        if rest[0] not in ("csv", "xlsx"):
            raise BadButton("unknown export format")
        send_export(ctx, rest[0])
    elif action == "dump":
        send_dump(ctx)
    elif action == "legacy":
        send_legacy_report(ctx)
    elif action == PURGE and not rest:
        show_purge_scopes(ctx)
    elif action == PURGE:
        ask_purge(ctx, rest[0] if rest[0] == "all" else str(rest.int(0)))
    elif action == WIPE:
        ask_wipe(ctx)
    else:
        raise BadButton(action)


def register(bot: DevtrackBot) -> None:
    """Wire /dev, the developer buttons and the code step (all hidden from everyone else)."""
    bot.register_message_handler(on_dev, commands=["dev"], func=developer_only)
    bot.register_message_handler(on_stray_code, func=is_stray_code,
                                 content_types=["text", "photo", "document"])
    bot.routes.callback(PREFIX, on_button, ROLE_DEVELOPER)
    bot.routes.step(CODE_STATE, on_code, ROLE_DEVELOPER, media=True)
