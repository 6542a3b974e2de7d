"""Finding devices: search, the card, /all, /categories, /mine and deep links."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from telebot import types

from handlers import keyboards, render, texts
from handlers.context import Ctx, ctx_of
from handlers.keyboards import button
from handlers.routing import ROLE_ADMIN, Args, BadButton
from inventory import catalog, devices, loans, people
from inventory.errors import NotFound
from inventory.numbers import sticker_number
from notices import pack

if TYPE_CHECKING:
    from dispatch import DevtrackBot
    from models import Person

logger = logging.getLogger(__name__)


# --- the card --------------------------------------------------------------------------------


def before_read(ctx: Ctx, device_id: int | None = None, *, at_start: bool = False) -> None:
    """Let features bring one device (None: every device) up to date before it is read.

    at_start: nothing in this update has written yet, so a feature may go by what the update's
    first statement told it (the queue: Ctx.holds_due).
    """
    for hook in ctx.bot.before_read:
        hook(ctx, device_id, at_start)


def card_view(ctx: Ctx, device_id: int, row: devices.DeviceRow | None = None, *,
              settled: bool = False,
              more: tuple[list[str], list[list[types.InlineKeyboardButton]]] | None = None,
              ) -> tuple[str, types.InlineKeyboardMarkup]:
    """Text and keyboard of a device card for this viewer (raises NotFound).

    `settled`: the caller has just brought the device's holds up to date; `more`: lines and
    button rows the caller adds at the end.
    """
    if row is None:
        if not settled:
            before_read(ctx, device_id)
        row = devices.card(device_id, ctx.now)
    lines: list[str] = []
    buttons: list[list[types.InlineKeyboardButton]] = []
    for extension in ctx.bot.card_extensions:
        more_lines, more_buttons = extension(ctx, row)
        lines.extend(more_lines)
        buttons.extend(more_buttons)
    if more:
        lines.extend(more[0])
        buttons.extend(more[1])
    return render.card_text(row, ctx, lines), keyboards.card_keyboard(row, ctx, buttons)


def send_card(ctx: Ctx, device_id: int, *, edit: bool = False, prefix: str = "",
              row: devices.DeviceRow | None = None, settled: bool = False,
              more: tuple[list[str], list[list[types.InlineKeyboardButton]]] | None = None,
              ) -> None:
    """Show a card as a new message, or in place of the pressed button's message."""
    text, markup = card_view(ctx, device_id, row, settled=settled, more=more)
    if prefix:
        text = prefix + "\n\n" + text
    (ctx.show if edit else ctx.send)(text, markup)


def on_card(ctx: Ctx, args: Args) -> None:
    """card:<id> — open (or refresh) a card."""
    try:
        before_read(ctx, args.int(0), at_start=True)
        send_card(ctx, args.int(0), edit=True, settled=True)
    except NotFound:
        ctx.answer(texts.DEVICE_GONE, alert=True)


# --- lists -----------------------------------------------------------------------------------


def list_text(title: str, page: devices.Page, ctx: Ctx) -> str:
    """A list page: title and one line per device."""
    if not page.rows:
        return f"{title}\n\n{texts.LIST_EMPTY}"
    lines = [render.list_line(r, ctx.today) for r in page.rows]
    return title + "\n\n" + "\n".join(lines)


def show_page(ctx: Ctx, title: str, page: devices.Page, asked: int,
              data: str, extra: list | None = None) -> None:
    """Show a list page, editing the list message when paging."""
    if asked != page.page and ctx.callback is not None:
        ctx.answer(texts.PAGE_GONE, alert=True)
    markup = keyboards.page_keyboard(page, lambda p: data.format(page=p), extra)
    ctx.show(list_text(title, page, ctx), markup)


def on_all(message: types.Message) -> None:
    """/all."""
    ctx = ctx_of(message)
    before_read(ctx, at_start=True)
    page = devices.page_all(1, ctx.now)
    show_page(ctx, texts.LIST_ALL.format(total=page.total), page, 1, "all:{page}")


def on_all_page(ctx: Ctx, args: Args) -> None:
    """all:<page>."""
    asked = args.int(0)
    before_read(ctx, at_start=True)
    page = devices.page_all(asked, ctx.now)
    show_page(ctx, texts.LIST_ALL.format(total=page.total), page, asked, "all:{page}")


def categories_view(ctx: Ctx) -> None:
    """The categories with free/total counts."""
    counts = devices.category_counts()
    if not counts:
        ctx.show(texts.CATEGORIES_EMPTY)
        return
    markup = keyboards.rows(*[[button(texts.CATEGORY_BUTTON.format(
        name=c.category.name[:40], free=c.free, total=c.total), "cat", c.category.id, 1)]
        for c in counts])
    ctx.show(texts.CATEGORIES_TITLE, markup)


def on_categories(message: types.Message) -> None:
    """/categories."""
    categories_view(ctx_of(message))


def on_categories_back(ctx: Ctx, args: Args) -> None:
    """cats — back to the category list."""
    categories_view(ctx)


def on_category_page(ctx: Ctx, args: Args) -> None:
    """cat:<category id>:<page>."""
    category = catalog.category_by_id(args.int(0))
    if category is None:
        ctx.answer(texts.STALE_BUTTON, alert=True)
        return
    asked = args.int(1)
    before_read(ctx, at_start=True)
    page = devices.page_all(asked, ctx.now, category_id=category.id)
    title = texts.LIST_CATEGORY.format(category=texts.e(category.name), total=page.total)
    show_page(ctx, title, page, asked, f"cat:{category.id}:{{page}}",
              [[button(texts.BTN_ALL_CATEGORIES, "cats")]])


HELD_PAGE = 10  # lines per page of /mine and of an admin's view of a person


def held_view(ctx: Ctx, title: str, held: list, page: int = 1, data: str = "mine:{page}") -> None:
    """A page of open loans (due dates, overdue marked), a button per card, ‹ n/m › below."""
    pages = max(1, math.ceil(len(held) / HELD_PAGE))
    if page > pages and ctx.callback is not None:
        ctx.answer(texts.PAGE_GONE, alert=True)
    page = min(max(1, page), pages)
    shown = held[(page - 1) * HELD_PAGE:page * HELD_PAGE]
    lines = [title, ""] + [render.loan_line(loan, ctx.today) for loan in shown]
    nav: list[types.InlineKeyboardButton] = []
    if pages > 1:
        if page > 1:
            nav.append(types.InlineKeyboardButton(texts.BTN_PREV,
                                                  callback_data=data.format(page=page - 1)))
        nav.append(button(texts.PAGE.format(page=page, pages=pages), keyboards.NOOP))
        if page < pages:
            nav.append(types.InlineKeyboardButton(texts.BTN_NEXT,
                                                  callback_data=data.format(page=page + 1)))
    markup = keyboards.rows(*[[keyboards.device_button(loan.device)] for loan in shown], nav)
    ctx.show("\n".join(lines), markup)


def mine_view(ctx: Ctx, page: int) -> None:
    """What the person holds, a page at a time."""
    held = loans.held_by(ctx.me)
    if not held:
        ctx.show(texts.MINE_EMPTY)
        return
    held_view(ctx, texts.MINE_TITLE.format(count=len(held)), held, page)


def on_mine(message: types.Message) -> None:
    """/mine — what the person holds, overdue marked."""
    mine_view(ctx_of(message), 1)


def on_mine_page(ctx: Ctx, args: Args) -> None:
    """mine:<page>."""
    mine_view(ctx, args.int(0))


# --- search ----------------------------------------------------------------------------------


def search_page_data(query: str) -> str | None:
    """Callback data template for paging a search, if the query fits in a button."""
    try:
        pack("sq", 99999, query)
    except ValueError:
        return None
    return "sq:{page}:" + query.replace("{", "{{").replace("}", "}}")


def show_search(ctx: Ctx, query: str, asked: int) -> None:
    """Run a search and show its result: card, list or «not found».

    A sticker number opens that device's card at once; other devices containing the query
    are one button away («Ещё совпадения»), and the paged list leaves the numbered one out.
    """
    before_read(ctx, at_start=True)
    exact = devices.exact(query, ctx.now)
    if exact is not None and ctx.callback is None:
        more = devices.more_matches(query, exact.device.id)
        data = search_page_data(query)
        extra = ([texts.MORE_MATCHES.format(count=more)],
                 [[button(texts.BTN_MORE_MATCHES, data.format(page=1))]] if data else [])
        send_card(ctx, exact.device.id, row=exact, more=extra if more else None)
        return
    page = devices.search(query, asked, ctx.now, exclude_id=exact.device.id if exact else None)
    shown = texts.e(query[:100])
    if page.total == 0:
        ctx.send(texts.NOT_FOUND.format(query=shown))
        return
    if page.total == 1 and ctx.callback is None:
        send_card(ctx, page.rows[0].device.id, row=page.rows[0])
        return
    title = texts.LIST_SEARCH.format(query=shown, total=page.total)
    data = search_page_data(query)
    if data is None:
        page.pages = 1  # too long to page through buttons: the first page says it all
    show_page(ctx, title, page, asked, data or "noop")


def on_search_page(ctx: Ctx, args: Args) -> None:
    """sq:<page>:<query>."""
    # The query as typed: the router's args have long numbers replaced (a serial can be one).
    parts = ((ctx.callback.data or "") if ctx.callback else "").split(":", 2)
    if len(parts) < 3:
        raise BadButton("no query")
    show_search(ctx, parts[2], args.int(0))


def person_holdings(ctx: Ctx, text: str) -> bool:
    """Admins: an email or @username shows what that person holds; False if no such person."""
    query = text.strip().lower()
    if query.startswith("@"):
        person = people.by_username(query[1:])
    elif "@" in query and " " not in query:
        person = people.by_email(query)
    else:
        return False
    if person is None:
        return False
    person_holdings_view(ctx, person, 1)
    return True


def person_holdings_view(ctx: Ctx, person: Person, page: int) -> None:
    """A page of what one person holds, for an admin."""
    held = loans.held_by(person)
    name = render.short_name(person)
    email = texts.e(person.email)
    if not held:
        ctx.show(texts.PERSON_HOLDS_NOTHING.format(person=name, email=email))
        return
    held_view(ctx, texts.PERSON_HOLDS.format(person=name, email=email, count=len(held)), held,
              page, f"ph:{person.id}:{{page}}")


def on_person_holdings_page(ctx: Ctx, args: Args) -> None:
    """ph:<person id>:<page> — admins page through what a person holds."""
    person = people.active(args.int(0))
    if person is None:
        ctx.answer(texts.STALE_BUTTON, alert=True)
        return
    person_holdings_view(ctx, person, args.int(1))


def search(ctx: Ctx, text: str) -> None:
    """Plain text: admins may look people up, everyone searches devices."""
    if ctx.is_admin and person_holdings(ctx, text):
        return
    show_search(ctx, text, 1)


def open_payload(ctx: Ctx, payload: str) -> None:
    """/start <payload>: a sticker number opens its card; anything else is searched."""
    payload = payload.strip()
    number = sticker_number(payload)
    if number is not None:
        try:
            send_card(ctx, devices.by_number(number).id)
            return
        except NotFound:
            pass
    show_search(ctx, payload, 1)


def on_noop(ctx: Ctx, args: Args) -> None:
    """The page indicator: nothing to do."""
    ctx.answer()


def register(bot: DevtrackBot) -> None:
    """Wire the browsing commands and buttons."""
    bot.register_message_handler(on_all, commands=["all"])
    bot.register_message_handler(on_categories, commands=["categories"])
    bot.register_message_handler(on_mine, commands=["mine"])
    bot.routes.callback("card", on_card)
    bot.routes.callback("all", on_all_page)
    bot.routes.callback("cats", on_categories_back)
    bot.routes.callback("cat", on_category_page)
    bot.routes.callback("sq", on_search_page)
    bot.routes.callback("mine", on_mine_page)
    bot.routes.callback("ph", on_person_holdings_page, ROLE_ADMIN)
    bot.routes.callback(keyboards.NOOP, on_noop)
