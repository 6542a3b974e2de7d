"""/labels (admins): choose devices, choose the label stock, get a PDF of QR labels.

Selection: all devices, a category, typed numbers (`101-130, 145, 150`) or «Без наклеек» (never
labelled). The choice is kept in the dialogue, so the layout buttons carry only the layout.
Large jobs show a progress message; very large ones arrive as several PDFs.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from requests import RequestException
from telebot import types
from telebot.apihelper import ApiException

from handlers import admin_common, keyboards, texts
from handlers.context import Ctx, ctx_of
from handlers.keyboards import button
from handlers.routing import ROLE_ADMIN, Args, BadButton
from inventory import label_select, labels
from inventory.labels import LAYOUTS, Label

if TYPE_CHECKING:
    from dispatch import DevtrackBot

logger = logging.getLogger(__name__)

PREFIX = "lbl"
NUMBERS = "labels:numbers"  # waiting for typed numbers (data: offer = valid spans so far)
LAYOUT = "labels:layout"  # selection made (data: kind, category, spans), waiting for the layout
ALL, CATEGORY, TYPED, NEW = "all", "cat", "num", "new"
LAYOUT_TITLES = {
    "a4x24": texts.BTN_LAYOUT_A4X24,
    "a4x40": texts.BTN_LAYOUT_A4X40,
    "thermal": texts.BTN_LAYOUT_THERMAL,
}
PROGRESS_FROM = 500  # labels from which a progress message is shown
PROGRESS_INTERVAL = 2.0  # seconds between progress edits (Telegram limits edits per chat)
FILE_LIMIT = 5000  # labels per PDF: memory per job stays bounded, files stay easy to print
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024  # what Telegram accepts from a bot
SHOWN_SPANS = 12  # number ranges listed in a message before «…»


def span_text(spans: list[tuple[int, int]]) -> str:
    """`101–130, 145` (shortened with «…» when long)."""
    parts = [str(low) if low == high else f"{low}–{high}" for low, high in spans[:SHOWN_SPANS]]
    if len(spans) > SHOWN_SPANS:
        parts.append("…")
    return ", ".join(parts)


def numbers_of(spans: list[Any]) -> list[int]:
    """Numbers from spans stored in the dialogue ([[101, 130], [145, 145]])."""
    result: list[int] = []
    for low, high in spans:
        result.extend(range(int(low), int(high) + 1))
    return result


# --- step 1: which devices -------------------------------------------------------------------


def on_labels(message: types.Message) -> None:
    """/labels — the selection menu."""
    ctx = ctx_of(message)
    ctx.dialog.clear()
    show_selection(ctx)


def show_selection(ctx: Ctx) -> None:
    """All, each category, typed numbers, never labelled."""
    choices = label_select.categories()
    total = sum(choice.devices for choice in choices)
    if not total:
        ctx.show(texts.LABELS_NO_DEVICES)
        return
    rows = [[button(texts.BTN_LABELS_ALL.format(count=total), PREFIX, ALL)]]
    rows += [[button(texts.BTN_LABELS_CATEGORY.format(name=choice.name[:40],
                                                      count=choice.devices),
                     PREFIX, CATEGORY, choice.id)] for choice in choices]
    rows.append([button(texts.BTN_LABELS_NUMBERS, PREFIX, TYPED)])
    unlabelled = label_select.unlabelled_count()
    if unlabelled:
        rows.append([button(texts.BTN_LABELS_NEW.format(count=unlabelled), PREFIX, NEW)])
    rows.append([button(texts.BTN_CANCEL, "dlg", "cancel")])
    ctx.show(texts.LABELS_CHOOSE, keyboards.rows(*rows))


def selection(data: dict[str, Any]) -> list[tuple[int, Label]]:
    """The devices a stored selection means now (deleted ones drop out, new ones join)."""
    kind = data.get("kind")
    if kind == ALL:
        return label_select.select_all()
    if kind == CATEGORY:
        return label_select.select_category(int(data["category"]))
    if kind == NEW:
        return label_select.select_unlabelled()
    if kind == TYPED:
        return label_select.select_numbers(numbers_of(data.get("spans", [])))
    raise KeyError(kind)


def selection_size(data: dict[str, Any]) -> int:
    """How many devices a stored selection means now (a COUNT, not the rows)."""
    kind = data.get("kind")
    if kind == ALL:
        return label_select.count(None)
    if kind == CATEGORY:
        return label_select.count(label_select.category_condition(int(data["category"])))
    if kind == NEW:
        return label_select.unlabelled_count()
    return len(selection(data))  # typed numbers: already bounded by MAX_NUMBERS


def describe(data: dict[str, Any]) -> str:
    """What a selection is, in words."""
    kind = data.get("kind")
    if kind == CATEGORY:
        return texts.LABELS_WHAT_CATEGORY.format(name=texts.e(data.get("name", "")))
    if kind == NEW:
        return texts.LABELS_WHAT_NEW
    if kind == TYPED:
        spans = [(int(low), int(high)) for low, high in data.get("spans", [])]
        return texts.LABELS_WHAT_NUMBERS.format(numbers=span_text(spans))
    return texts.LABELS_WHAT_ALL


def ask_layout(ctx: Ctx, **data: Any) -> None:
    """Remember the selection and ask for the label stock."""
    count = selection_size(data)
    if not count:
        ctx.dialog.clear()
        ctx.show(texts.LABELS_NOTHING.format(what=describe(data)))
        return
    ctx.dialog.set(LAYOUT, **data)
    rows = [[button(title, PREFIX, "go", key)] for key, title in LAYOUT_TITLES.items()]
    rows.append([button(texts.BTN_CANCEL, "dlg", "cancel")])
    ctx.show(texts.LABELS_ASK_LAYOUT.format(what=describe(data),
                                            devices=texts.devices_count(count)),
             keyboards.rows(*rows))


def ask_numbers(ctx: Ctx) -> None:
    """Ask for typed numbers."""
    ctx.dialog.set(NUMBERS)
    ctx.show(texts.LABELS_ASK_NUMBERS, keyboards.cancel_keyboard())


def on_numbers_text(ctx: Ctx, message: types.Message) -> None:
    """Typed numbers: go on, or say what is wrong and offer the valid part."""
    if not (message.text or "").strip():  # a photo, a sticker, a file
        ctx.send(texts.LABELS_ASK_NUMBERS, keyboards.cancel_keyboard())
        return
    choice = label_select.choose_numbers(message.text or "")
    valid = label_select.spans(choice.numbers)
    if valid and not choice.problems and not choice.missing:
        ask_layout(ctx, kind=TYPED, spans=valid)
        return
    lines = [problem_line(problem) for problem in choice.problems]
    if choice.missing:
        lines.append(texts.LABELS_MISSING.format(
            numbers=span_text(label_select.spans(choice.missing))))
    if not lines:  # only separators
        typed = (message.text or "").strip()[:40]
        lines.append(texts.LABELS_NOT_A_NUMBER.format(text=texts.e(typed)))
    if not valid:
        ctx.dialog.set(NUMBERS)
        lines.append(texts.LABELS_RETYPE)
        ctx.send("\n".join(lines), keyboards.cancel_keyboard())
        return
    ctx.dialog.set(NUMBERS, offer=valid)
    lines.append(texts.LABELS_VALID.format(numbers=span_text(valid),
                                           devices=texts.devices_count(len(choice.numbers))))
    lines.append(texts.LABELS_FIX_OR_GO)
    ctx.send("\n".join(lines), keyboards.rows(
        [button(texts.BTN_LABELS_CONTINUE.format(
            devices=texts.devices_count(len(choice.numbers))), PREFIX, "ok")],
        [button(texts.BTN_CANCEL, "dlg", "cancel")]))


def problem_line(problem: label_select.Problem) -> str:
    """Why one typed piece was not used."""
    text = texts.e(problem.text[:40])
    if problem.kind == label_select.REVERSED:
        low, high = problem.text.split("-")
        return texts.LABELS_REVERSED.format(text=text, fixed=f"{high}-{low}")
    if problem.kind == label_select.TOO_MANY:
        return texts.LABELS_TOO_MANY.format(text=text, limit=label_select.MAX_NUMBERS)
    return texts.LABELS_NOT_A_NUMBER.format(text=text)


# --- step 2: the PDF -------------------------------------------------------------------------


class Progress:
    """Edits one message with «Готовлю наклейки: N из M…», at most every PROGRESS_INTERVAL s."""

    def __init__(self, ctx: Ctx, total: int) -> None:
        self.ctx = ctx
        self.total = total
        self.message_id: int | None = None
        self.shown_at = 0.0
        if total >= PROGRESS_FROM:
            sent = ctx.send(texts.LABELS_PROGRESS.format(done=0, total=total))
            self.message_id = sent.message_id if sent is not None else None
            self.shown_at = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        """Show how far the job is (throttled)."""
        del total  # the job's own count; ours spans every file of the job
        if self.message_id is None or time.monotonic() - self.shown_at < PROGRESS_INTERVAL:
            return
        self.edit(texts.LABELS_PROGRESS.format(done=done, total=self.total))

    def edit(self, text: str) -> None:
        """Replace the progress text; a refused edit only costs the update."""
        if self.message_id is None:
            return
        self.shown_at = time.monotonic()
        try:
            self.ctx.bot.edit_message_text(text, self.ctx.chat_id, self.message_id)
        except (ApiException, RequestException) as exc:
            logger.info("progress edit refused: %s", type(exc).__name__)


def bot_username(ctx: Ctx) -> str | None:
    """The bot's @username from getMe (cached by telebot after the first call)."""
    try:
        return ctx.bot.user.username
    except (ApiException, RequestException) as exc:
        logger.warning("getMe failed, cannot make label links: %s", type(exc).__name__)
        return None


def make_labels(ctx: Ctx, layout_key: str) -> None:
    """Render the chosen devices on the chosen stock and send the PDF(s)."""
    if ctx.dialog.state != LAYOUT:
        ctx.answer(texts.STALE_BUTTON, alert=True)
        return
    layout = LAYOUTS[layout_key]
    data = dict(ctx.dialog.data)
    chosen = selection(data)
    if not chosen:
        ctx.dialog.clear()
        ctx.show(texts.LABELS_NOTHING.format(what=describe(data)))
        return
    username = bot_username(ctx)
    if not username:
        ctx.send(texts.LABELS_NO_USERNAME)
        return
    ctx.dialog.clear()
    ctx.answer()
    title = LAYOUT_TITLES[layout_key]
    progress = Progress(ctx, len(chosen))
    parts = [chosen[i:i + FILE_LIMIT] for i in range(0, len(chosen), FILE_LIMIT)]
    sent_ids: list[int] = []
    for part_no, part in enumerate(parts, start=1):
        offset = (part_no - 1) * FILE_LIMIT
        def report(done: int, total: int, base: int = offset) -> None:
            progress(base + done, total)

        pdf = labels.render([label for _, label in part], layout, username, progress=report)
        if len(pdf) > MAX_DOCUMENT_BYTES:
            ctx.send(texts.LABELS_TOO_BIG.format(limit=MAX_DOCUMENT_BYTES // (1024 * 1024)))
            break
        caption = (texts.LABELS_CAPTION.format(labels=texts.labels_count(len(part)),
                                               layout=title) if len(parts) == 1
                   else texts.LABELS_CAPTION_PART.format(part=part_no, parts=len(parts),
                                                         labels=texts.labels_count(len(part)),
                                                         layout=title))
        name = (f"labels-{ctx.today:%Y-%m-%d}.pdf" if len(parts) == 1
                else f"labels-{ctx.today:%Y-%m-%d}-{part_no}.pdf")
        try:
            ctx.bot.send_document(ctx.chat_id, pdf, visible_file_name=name, caption=caption)
        except (ApiException, RequestException) as exc:
            logger.warning("could not send labels to %s: %s", ctx.user_id, type(exc).__name__)
            ctx.send(texts.LABELS_SEND_FAILED)
            break
        sent_ids.extend(device_id for device_id, _ in part)
    if sent_ids:
        label_select.mark_labelled(sent_ids, actor=ctx.person, now=ctx.now, layout=layout_key)
    progress.edit(texts.LABELS_DONE.format(labels=texts.labels_count(len(sent_ids))))


# --- buttons ---------------------------------------------------------------------------------


def on_button(ctx: Ctx, args: Args) -> None:
    """lbl:<choice>[:arg] — every /labels button."""
    action, rest = args[0], args[1:]
    if action == ALL:
        ask_layout(ctx, kind=ALL)
    elif action == CATEGORY:
        category = {c.id: c for c in label_select.categories()}.get(rest.int(0))
        if category is None:
            raise BadButton("no such category")
        ask_layout(ctx, kind=CATEGORY, category=category.id, name=category.name)
    elif action == NEW:
        ask_layout(ctx, kind=NEW)
    elif action == TYPED:
        ask_numbers(ctx)
    elif action == "ok":
        offer = ctx.dialog.data.get("offer") if ctx.dialog.state == NUMBERS else None
        if not offer:
            ctx.answer(texts.STALE_BUTTON, alert=True)
            return
        ask_layout(ctx, kind=TYPED, spans=offer)
    elif action == "go":
        if rest[0] not in LAYOUTS:
            raise BadButton(rest[0])
        make_labels(ctx, rest[0])
    else:
        raise BadButton(action)


def register(bot: DevtrackBot) -> None:
    """Wire /labels, its buttons and the typed-numbers step (admins only)."""
    bot.register_message_handler(on_labels, commands=["labels"], func=admin_common.is_admin)
    bot.routes.callback(PREFIX, on_button, role=ROLE_ADMIN)
    bot.routes.step(NUMBERS, on_numbers_text, role=ROLE_ADMIN)
