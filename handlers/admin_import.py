"""/add by file: an admin sends a CSV/XLSX document, sees a preview, and imports it atomically."""

from __future__ import annotations

import base64
import io
import logging
import time
import zlib
from typing import TYPE_CHECKING, Any

import requests
from telebot import apihelper, types
from telebot.apihelper import ApiException

from handlers import admin_common, affected, keyboards, render, texts
from handlers.admin_common import button
from handlers.context import Ctx, Dialog, ctx_of
from handlers.import_problems import file_error_text, problem_text
from handlers.routing import ROLE_ADMIN, Args, BadButton
from inventory import importing
from inventory.errors import Conflict, NotAllowed, NotFound
from inventory.import_apply import apply_plan, cleared_holds, existing_data
from inventory.importing import ExistingData, ImportFileError, ImportPlan

if TYPE_CHECKING:
    from dispatch import DevtrackBot

logger = logging.getLogger(__name__)

STATE = "import:confirm"
# The dialogue state while an import is being written (see tell_interrupted).
RUNNING = "import:running"
# The preview lists the first warnings (80 unknown columns must not crowd out «Импортировать»).
WARNINGS_SHOWN = 10
WARNING_LENGTH = 200
# Files above this size get a status message that is edited while they are read and checked.
PROGRESS_BYTES = 200 * 1024
# Plans above this many rows show progress while they are written.
PROGRESS_ROWS = 2000
# Seconds between edits of the status message (Telegram allows about one per second per chat).
PROGRESS_INTERVAL = 1.0
DOWNLOAD_TIMEOUT = (10, 60)  # connect, read (seconds)
TELEGRAM_FILE_URL = "https://api.telegram.org/file/bot{0}/{1}"
# Characters of a preview message; errors beyond it go into an attached text file.
PREVIEW_LIMIT = 3500


class FileTooBig(Exception):
    """The download exceeded the size limit."""


class Status:
    """One message that shows progress by being edited (sent on first use)."""

    def __init__(self, ctx: Ctx, message_id: int | None = None) -> None:
        self.ctx = ctx
        self.message_id = message_id
        self.shown_at = 0.0

    def show(self, text: str, markup: types.InlineKeyboardMarkup | None = None, *,
             force: bool = False) -> None:
        """Send or edit the status; progress edits (not forced) are throttled."""
        moment = time.monotonic()
        if not force and self.message_id is not None and \
                moment - self.shown_at < PROGRESS_INTERVAL:
            return
        self.shown_at = moment
        if self.message_id is not None and not force:
            # Progress runs inside the import's transaction: one try, no waiting on 429.
            try:
                self.ctx.bot.edit_message_text(text, self.ctx.chat_id, self.message_id,
                                               reply_markup=markup)
            except ApiException as exc:
                logger.info("progress edit failed: %s", type(exc).__name__)
            return
        if self.message_id is not None:
            try:
                self.ctx.reply(lambda: self.ctx.bot.edit_message_text(
                    text, self.ctx.chat_id, self.message_id, reply_markup=markup))
                return
            except ApiException:
                logger.info("final status edit refused; sending it as a new message")
        # The final text must arrive even if the status message cannot be edited.
        sent = self.ctx.send(text, markup)
        self.message_id = sent.message_id if sent is not None else self.message_id


def megabytes(size: int) -> str:
    """Size in megabytes with one decimal, Russian style."""
    return f"{size / 1024 / 1024:.1f}".replace(".", ",")


def too_big(size: int) -> str:
    """The size-limit message."""
    return texts.IMPORT_TOO_BIG.format(size=megabytes(size), limit=megabytes(importing.MAX_BYTES))


def fetch_file(token: str, file_path: str, limit: int) -> bytes:
    """Download a file from the Bot API file endpoint, with a timeout and a size cap."""
    # bot.py always sets FILE_URL (TELEGRAM_API_URL); telebot's own default is the fallback.
    url = (apihelper.FILE_URL or TELEGRAM_FILE_URL).format(token, file_path)
    with requests.get(url, timeout=DOWNLOAD_TIMEOUT, stream=True) as response:
        response.raise_for_status()
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise FileTooBig(size)
            chunks.append(chunk)
    return b"".join(chunks)


def download(ctx: Ctx, document: types.Document) -> bytes:
    """getFile, then the file itself (tests replace fetch_file)."""
    info = ctx.bot.get_file(document.file_id)
    if not info.file_path:  # Telegram gives no path for a file it cannot serve
        raise requests.RequestException("getFile returned no file_path")
    return fetch_file(ctx.bot.token, info.file_path, importing.MAX_BYTES)


def pack_bytes(raw: bytes) -> str:
    """File bytes compressed for the dialogue data (JSON)."""
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def unpack_bytes(blob: str) -> bytes:
    """The file bytes stored by pack_bytes."""
    return zlib.decompress(base64.b64decode(blob))


# --- preview ---------------------------------------------------------------------------------


def read_plan(ctx: Ctx, status: Status, raw: bytes, name: str,
              existing: ExistingData | None = None) -> ImportPlan:
    """Read and validate the file against the database as it is now (writes nothing)."""
    rows = importing.read_table(raw, name)
    if len(rows) > PROGRESS_ROWS:
        status.show(texts.IMPORT_CHECKING.format(name=texts.e(name), rows=len(rows) - 1))
    return importing.build_plan(rows, existing or existing_data(), ctx.today,
                                ctx.config.email_domains)


def warning_lines(plan: ImportPlan) -> list[str]:
    """The plan's warnings as message lines."""
    lines = [texts.IMPORT_WARNING.format(text=render.cut(problem_text(w), WARNING_LENGTH))
             for w in plan.warnings[:WARNINGS_SHOWN]]
    if len(plan.warnings) > WARNINGS_SHOWN:
        lines.append(texts.IMPORT_WARNINGS_MORE.format(count=len(plan.warnings) - WARNINGS_SHOWN))
    return lines


def preview_text(plan: ImportPlan, name: str) -> str:
    """Counts of a valid plan and its warnings."""
    warnings = warning_lines(plan)
    return texts.IMPORT_PREVIEW.format(
        name=texts.e(name), new=len(plan.new), updates=len(plan.updates), loans=len(plan.loans),
        warnings=("\n\n" + "\n".join(warnings)) if warnings else "")


def preview_keyboard() -> types.InlineKeyboardMarkup:
    """«Импортировать» and «Отмена»."""
    return keyboards.rows([button(texts.BTN_IMPORT, "imp", "go"),
                           button(texts.BTN_CANCEL, "imp", "no")])


def show_errors(ctx: Ctx, status: Status, plan: ImportPlan, name: str, note: str = "") -> None:
    """Every error with its row; what does not fit in a message goes into a text file."""
    lines = warning_lines(plan) + [texts.e(problem_text(error)) for error in plan.errors]
    head = (note + "\n\n" if note else "")
    shown: list[str] = []
    used = len(head) + len(texts.IMPORT_ERRORS) + len(name) + 200
    for line in lines:
        if used + len(line) + 1 > PREVIEW_LIMIT:
            break
        shown.append(line)
        used += len(line) + 1
    rest = len(lines) - len(shown)
    body = "\n".join(shown)
    if rest:
        body += "\n" + texts.IMPORT_ERRORS_MORE.format(count=rest)
    status.show(head + texts.IMPORT_ERRORS.format(name=texts.e(name), count=len(plan.errors),
                                                  errors=body), force=True)
    if rest:
        report = "\n".join(problem_text(p) for p in [*plan.warnings, *plan.errors]) + "\n"
        ctx.bot.send_document(ctx.chat_id, io.BytesIO(report.encode("utf-8")),
                              visible_file_name=texts.IMPORT_ERRORS_FILE)


def preview(ctx: Ctx, status: Status, raw: bytes, name: str) -> None:
    """Validate the file and show the preview (with buttons only when it can be imported)."""
    try:
        plan = read_plan(ctx, status, raw, name)
    except ImportFileError as err:
        reason = texts.e(file_error_text(err))
        status.show(texts.IMPORT_FILE_ERROR.format(name=texts.e(name), reason=reason), force=True)
        return
    if not plan.ok:
        show_errors(ctx, status, plan, name)
        return
    ctx.dialog.set(STATE, name=name, blob=pack_bytes(raw),
                   counts=[len(plan.new), len(plan.updates), len(plan.loans)])
    status.show(preview_text(plan, name), preview_keyboard(), force=True)


def on_document(message: types.Message) -> None:
    """An admin's document: download (size-checked), read, validate, preview."""
    ctx = ctx_of(message)
    document = message.document
    if document is None:  # registered for content_types=["document"] only
        return
    name = document.file_name or ""
    ctx.dialog.clear()  # a file starts afresh, whatever dialogue was going on
    if (document.file_size or 0) > importing.MAX_BYTES:
        ctx.send(too_big(document.file_size or 0))
        return
    status = Status(ctx)
    if (document.file_size or 0) > PROGRESS_BYTES:
        status.show(texts.IMPORT_READING.format(name=texts.e(name)))
    try:
        raw = download(ctx, document)
    except FileTooBig as exc:
        status.show(too_big(int(exc.args[0])), force=True)
        return
    except (requests.RequestException, ApiException) as exc:
        # Never log the exception text: the file URL contains the bot token.
        logger.warning("could not download an import file: %s", type(exc).__name__)
        status.show(texts.IMPORT_DOWNLOAD_FAILED, force=True)
        return
    logger.info("import file %r from %s: %d bytes", name, ctx.user_id, len(raw))
    preview(ctx, status, raw, name)


# --- confirm ---------------------------------------------------------------------------------


def on_button(ctx: Ctx, args: Args) -> None:
    """imp:go / imp:no — import the previewed file, or drop it."""
    action = args[0]
    if action not in ("go", "no"):
        raise BadButton(action)
    if ctx.dialog.state != STATE:
        ctx.answer(texts.IMPORT_STALE, alert=True)
        return
    message = ctx.callback.message if ctx.callback else None
    status = Status(ctx, message.message_id if message else None)
    if action == "no":
        ctx.dialog.clear()
        status.show(texts.CANCELLED, force=True)
        return
    data = ctx.dialog.data
    name, raw = data["name"], unpack_bytes(data["blob"])
    # The database may have changed since the preview: validate again before writing.
    existing = existing_data()
    try:
        plan = read_plan(ctx, status, raw, name, existing)
    except ImportFileError as err:
        ctx.dialog.clear()
        reason = texts.e(file_error_text(err))
        status.show(texts.IMPORT_FILE_ERROR.format(name=texts.e(name), reason=reason), force=True)
        return
    if not plan.ok:
        ctx.dialog.clear()
        show_errors(ctx, status, plan, name, note=texts.IMPORT_CHANGED)
        return
    counts = [len(plan.new), len(plan.updates), len(plan.loans)]
    if counts != data.get("counts"):
        ctx.dialog.update(counts=counts)
        status.show(texts.IMPORT_CHANGED + "\n\n" + preview_text(plan, name),
                    preview_keyboard(), force=True)
        return
    # Before writing, so a second press cannot import twice; kept until the import ends, so
    # a restart in the middle tells the admin it did not happen (tell_interrupted).
    ctx.dialog.set(RUNNING, name=name, message_id=status.message_id)
    total = len(plan.new) + len(plan.updates)

    def progress(stage: str, done: int, of: int) -> None:
        status.show(texts.IMPORT_APPLYING.format(name=texts.e(name), done=done, total=of))

    big = total > PROGRESS_ROWS
    if big:
        status.show(texts.IMPORT_APPLYING.format(name=texts.e(name), done=0, total=total),
                    force=True)
    try:
        result = apply_plan(plan, ctx.person, ctx.now, progress if big else None, source=name,
                            seen_loans=existing.open_loans)
    except (Conflict, NotFound, NotAllowed) as err:
        logger.warning("import of %r refused at apply: %s", name, err)
        ctx.dialog.clear()
        status.show(texts.IMPORT_RACE, force=True)
        return
    except Exception:
        ctx.dialog.clear()  # rolled back; the middleware tells the admin
        raise
    ctx.dialog.clear()
    status.show(texts.IMPORT_DONE.format(
        name=texts.e(name), created=result.created, updated=result.updated,
        unchanged=result.unchanged, loans=result.loans_created, people=result.people_created),
        force=True)
    for person, device, holder in cleared_holds(result):
        affected.holds_cleared(ctx.bot.notifier, [person], device, holder)


def tell_interrupted(bot: DevtrackBot) -> int:
    """At start-up: imports cut off by a restart were rolled back; tell their admins so."""
    told = 0
    for dialog in Dialog.in_state(RUNNING):
        name = str(dialog.data.get("name", ""))
        text = texts.IMPORT_INTERRUPTED.format(name=texts.e(name))
        message_id = dialog.data.get("message_id")
        dialog.clear()
        sent = None
        if message_id:
            chat_id = dialog.chat_id

            def edit(text: str = text, chat_id: int = chat_id,
                     message_id: int = int(message_id)) -> Any:
                return bot.edit_message_text(text, chat_id, message_id)

            try:
                sent = bot.notifier.reply(chat_id, edit)
            except ApiException:
                logger.info("could not edit the status of an interrupted import")
        if sent is None:
            bot.notifier.send_chat(dialog.chat_id, text)
        told += 1
        logger.warning("import %r of chat %s was interrupted by a restart", name, dialog.chat_id)
    return told


def register(bot: DevtrackBot) -> None:
    """Wire the document handler (admins only, before the catch-all) and the preview buttons."""
    bot.register_message_handler(on_document, content_types=["document"],
                                 func=admin_common.is_admin)
    bot.routes.callback("imp", on_button, role=ROLE_ADMIN)
