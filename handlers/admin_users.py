"""/users: find people, the person card, email, comment, history, admin rights, delete, restore."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telebot import types

from handlers import admin_common, affected, keyboards, menus, render, texts
from handlers.admin_common import button, nav_row
from handlers.admin_edit import history_keyboard, history_line
from handlers.context import Ctx, ctx_of
from handlers.routing import ROLE_ADMIN, Args
from inventory import access, admin_people
from inventory.clock import local_date
from inventory.errors import Conflict, DomainError, InvalidValue, NotAllowed, NotFound
from inventory.history import history
from notices import pack

if TYPE_CHECKING:
    from dispatch import DevtrackBot
    from models import Person

logger = logging.getLogger(__name__)

QUERY, EMAIL, COMMENT = "users:query", "users:email", "users:comment"
RECENT_LOANS = 5
# A card must stay under Telegram's 4096 characters and keyboards reasonably short.
LINES_LIMIT = 20
BUTTONS_LIMIT = 10


def label(person: Person) -> str:
    """The person's name for titles (escaped): name, or the email when no name is known."""
    return texts.e(person.name or person.email)


def person_or_alert(ctx: Ctx, person_id: int) -> Person | None:
    """The active person, or None after telling that they are gone."""
    try:
        return admin_people.get_person(person_id)
    except NotFound:
        if ctx.callback is not None:
            ctx.answer(texts.USER_GONE, alert=True)
        else:
            ctx.send(texts.USER_GONE)
        return None


# --- search ----------------------------------------------------------------------------------


def people_keyboard(found: admin_people.PeoplePage, query: str) -> types.InlineKeyboardMarkup:
    """A button per person and ‹ n/m › when the query fits in the button data."""
    rows = [[button(texts.USER_BUTTON.format(name=(p.name or p.email)[:30], email=p.email[:40]),
                    "usr", p.id)] for p in found.people]
    nav: list[types.InlineKeyboardButton] = []
    try:
        pack("usq", found.pages, query)
        pageable = True
    except ValueError:
        pageable = False
    if found.pages > 1 and pageable:
        if found.page > 1:
            nav.append(button(texts.BTN_PREV, "usq", found.page - 1, query))
        nav.append(button(texts.PAGE.format(page=found.page, pages=found.pages), keyboards.NOOP))
        if found.page < found.pages:
            nav.append(button(texts.BTN_NEXT, "usq", found.page + 1, query))
    return keyboards.rows(*rows, nav)


def show_results(ctx: Ctx, query: str, page: int) -> None:
    """People matching a query: a card for one, a list for several, a hint for none."""
    found = admin_people.search(query, page)
    if found.total == 0:
        ctx.dialog.set(QUERY)
        ctx.send(texts.USERS_NOT_FOUND.format(query=texts.e(query[:100]),
                                              example=texts.EXAMPLE_EMAIL),
                 keyboards.cancel_keyboard())
        return
    if ctx.dialog.state == QUERY:
        ctx.dialog.clear()
    if found.total == 1 and ctx.callback is None:
        send_person(ctx, found.people[0].id)
        return
    if page != found.page:
        ctx.answer(texts.PAGE_GONE, alert=True)
    text = texts.USERS_FOUND.format(query=texts.e(query[:100]), total=found.total)
    ctx.show(text, people_keyboard(found, query))


def on_users(message: types.Message) -> None:
    """/users [query] — everyone (and a prompt to search), or the people matching the query."""
    ctx = ctx_of(message)
    parts = (message.text or "").split(maxsplit=1)
    if len(parts) == 2:
        show_results(ctx, parts[1].strip(), 1)
        return
    everyone = admin_people.search("", 1)
    ctx.dialog.set(QUERY)
    markup = people_keyboard(everyone, "")
    _, _, _, deleted = access.deleted_people(1)
    if deleted:
        markup.row(button(texts.BTN_USERS_DELETED.format(count=deleted), "usdl", 1))
    ctx.send(texts.USERS_TITLE.format(total=everyone.total), markup)


def on_query_text(ctx: Ctx, message: types.Message) -> None:
    """A typed search after /users."""
    query = (message.text or "").strip()
    if not query:
        ctx.send(texts.USERS_NOT_FOUND.format(query="", example=texts.EXAMPLE_EMAIL),
                 keyboards.cancel_keyboard())
        return
    show_results(ctx, query, 1)


def on_results_page(ctx: Ctx, args: Args) -> None:
    """usq:<page>:<query>."""
    show_results(ctx, ":".join(args[1:]), args.int(0))


# --- the person card -------------------------------------------------------------------------


def person_view(ctx: Ctx, person_id: int) -> tuple[str, types.InlineKeyboardMarkup]:
    """Text and buttons of a person card (raises NotFound)."""
    card = admin_people.person_card(person_id)
    person = card.person
    bootstrap = person.telegram_id is not None and ctx.config.is_bootstrap_admin(
        person.telegram_id)
    lines = [*identity_lines(person, bootstrap), "", *holding_lines(ctx, card),
             *queue_lines(ctx, card)]
    if card.history.loans:
        lines += ["", texts.USER_HISTORY]
        lines.extend(history_line(ctx, loan, show_device=True, show_holder=False)
                     for loan in card.history.loans[:RECENT_LOANS])
    return "\n".join(lines), person_keyboard(card, bootstrap)


def identity_lines(person: Person, bootstrap: bool) -> list[str]:
    """Name, email, Telegram, reachability, role and comment of a person card."""
    if person.telegram_id is None:
        telegram = texts.USER_TELEGRAM_NONE
    elif person.username:
        telegram = "@" + texts.e(person.username)
    else:
        telegram = texts.USER_TELEGRAM_NO_USERNAME
    lines = [texts.USER_CARD_TITLE.format(name=label(person)),
             texts.USER_EMAIL.format(email=texts.e(person.email)),
             texts.USER_TELEGRAM.format(telegram=telegram)]
    if person.telegram_id is not None:
        lines.append(texts.USER_REACHABLE if person.reachable else texts.USER_UNREACHABLE)
    if bootstrap:
        lines.append(texts.USER_ADMIN_BOOTSTRAP)
    elif person.is_admin:
        lines.append(texts.USER_ADMIN)
    if person.comment:
        lines.append(texts.USER_COMMENT.format(comment=texts.e(person.comment)))
    return lines


def holding_lines(ctx: Ctx, card: admin_people.PersonCard) -> list[str]:
    """What the person holds (the first LINES_LIMIT devices)."""
    if not card.holding:
        return [texts.USER_HOLDS_NOTHING]
    lines = [texts.USER_HOLDS.format(count=len(card.holding))]
    lines.extend(render.loan_line(loan, ctx.today) for loan in card.holding[:LINES_LIMIT])
    if len(card.holding) > LINES_LIMIT:
        lines.append(texts.USER_MORE.format(count=len(card.holding) - LINES_LIMIT))
    return lines


def queue_lines(ctx: Ctx, card: admin_people.PersonCard) -> list[str]:
    """The queues the person waits in (the first LINES_LIMIT)."""
    if not card.queues:
        return [texts.USER_QUEUES_NONE]
    lines = [texts.USER_QUEUES.format(count=len(card.queues))]
    lines.extend(texts.USER_QUEUE_LINE.format(
        number=entry.device.number, name=render.cut(entry.device.name, render.NAME_IN_LINE),
        date=texts.fmt_date(local_date(entry.joined_at, ctx.config)))
        for entry in card.queues[:LINES_LIMIT])
    if len(card.queues) > LINES_LIMIT:
        lines.append(texts.USER_MORE.format(count=len(card.queues) - LINES_LIMIT))
    return lines


def person_keyboard(card: admin_people.PersonCard,
                    bootstrap: bool) -> types.InlineKeyboardMarkup:
    """Cards of the held devices, the edits, the role, history and deletion."""
    person = card.person
    devices = [[keyboards.device_button(loan.device)] for loan in card.holding[:BUTTONS_LIMIT]]
    actions = [button(texts.BTN_USER_EMAIL, "use", person.id),
               button(texts.BTN_USER_COMMENT, "usc", person.id)]
    clear = [button(texts.BTN_USER_CLEAR_COMMENT, "usx", person.id)] if person.comment else []
    role: list[types.InlineKeyboardButton] = []
    if person.telegram_id is not None and not bootstrap:
        role = [button(texts.BTN_USER_REVOKE_ADMIN, "usn", person.id) if person.is_admin
                else button(texts.BTN_USER_MAKE_ADMIN, "usa", person.id)]
    return keyboards.rows(*devices, actions, clear, role,
                          [button(texts.BTN_USER_HISTORY, "ush", person.id, 1),
                           button(texts.BTN_USER_DELETE, "usd", person.id)])


def send_person(ctx: Ctx, person_id: int, *, edit: bool = False, prefix: str = "") -> None:
    """Show a person card as a new message or in place of the pressed button's message."""
    text, markup = person_view(ctx, person_id)
    if prefix:
        text = prefix + "\n\n" + text
    (ctx.show if edit else ctx.send)(text, markup)


def on_person(ctx: Ctx, args: Args) -> None:
    """usr:<person id> — open a person card."""
    if ctx.dialog.state == QUERY:
        # The search is done: what is typed next is a device search again.
        ctx.dialog.clear()
    if person_or_alert(ctx, args.int(0)) is not None:
        send_person(ctx, args.int(0), edit=True)


def on_history(ctx: Ctx, args: Args) -> None:
    """ush:<person id>:<page> — every loan of the person, newest first."""
    person = person_or_alert(ctx, args.int(0))
    if person is None:
        return
    asked = args.int(1) if len(args) > 1 else 1
    page = history(asked, person_id=person.id)
    if asked != page.page:
        ctx.answer(texts.PAGE_GONE, alert=True)
    lines = [texts.HISTORY_PERSON_TITLE.format(person=label(person), total=page.total), ""]
    lines += [history_line(ctx, loan, show_device=True, show_holder=False)
              for loan in page.loans] or [texts.HISTORY_EMPTY]
    ctx.show("\n".join(lines), history_keyboard(
        page, "ush", person.id, button(texts.BTN_TO_USER, "usr", person.id)))


# --- email and comment -----------------------------------------------------------------------


def on_email(ctx: Ctx, args: Args) -> None:
    """use:<person id> — ask for the new email."""
    person = person_or_alert(ctx, args.int(0))
    if person is None:
        return
    ctx.dialog.set(EMAIL, person_id=person.id)
    ctx.send(texts.USER_ASK_EMAIL.format(name=label(person), email=texts.e(person.email),
                                         example=texts.EXAMPLE_EMAIL),
             keyboards.rows(nav_row(None)))


def on_email_text(ctx: Ctx, message: types.Message) -> None:
    """The typed new email."""
    person_id = int(ctx.dialog.data["person_id"])
    text = (message.text or "").strip()
    try:
        person = admin_people.change_email(person_id, text, actor=ctx.me, now=ctx.now,
                                           domains=ctx.config.email_domains)
    except NotFound:
        ctx.dialog.clear()
        ctx.send(texts.USER_GONE)
        return
    except Conflict as err:
        other = err.details.get("other")
        ctx.send(texts.USER_EMAIL_TAKEN.format(
            email=texts.e(err.details["value"]),
            other=render.person_name(other) if other else texts.EMPTY_VALUE),
            keyboards.cancel_keyboard())
        return
    except DomainError as err:
        ctx.send(admin_common.email_error(ctx, err, text), keyboards.cancel_keyboard())
        return
    ctx.dialog.clear()
    send_person(ctx, person.id, prefix=texts.USER_EMAIL_CHANGED.format(
        email=texts.e(person.email)))


def on_comment(ctx: Ctx, args: Args) -> None:
    """usc:<person id> — ask for the comment."""
    person = person_or_alert(ctx, args.int(0))
    if person is None:
        return
    ctx.dialog.set(COMMENT, person_id=person.id)
    current = texts.e(person.comment) if person.comment else texts.EMPTY_VALUE
    ctx.send(texts.USER_ASK_COMMENT.format(name=label(person), current=current,
                                           example=texts.EXAMPLE_USER_COMMENT),
             keyboards.cancel_keyboard())


def on_comment_text(ctx: Ctx, message: types.Message) -> None:
    """The typed comment."""
    person_id = int(ctx.dialog.data["person_id"])
    text = (message.text or "").strip()
    if not text:
        ctx.send(texts.ERR_TEXT_ONLY.format(example=texts.EXAMPLE_USER_COMMENT),
                 keyboards.cancel_keyboard())
        return
    try:
        admin_people.set_comment(person_id, text, actor=ctx.me, now=ctx.now)
    except NotFound:
        ctx.dialog.clear()
        ctx.send(texts.USER_GONE)
        return
    except InvalidValue as err:
        ctx.send(texts.USER_COMMENT_TOO_LONG.format(limit=err.details["limit"]),
                 keyboards.cancel_keyboard())
        return
    ctx.dialog.clear()
    send_person(ctx, person_id, prefix=texts.USER_COMMENT_SAVED)


def on_clear_comment(ctx: Ctx, args: Args) -> None:
    """usx:<person id> — remove the comment."""
    person = person_or_alert(ctx, args.int(0))
    if person is None:
        return
    admin_people.set_comment(person.id, "", actor=ctx.me, now=ctx.now)
    send_person(ctx, person.id, edit=True, prefix=texts.USER_COMMENT_CLEARED)


# --- delete ----------------------------------------------------------------------------------


def refuse_delete(ctx: Ctx, err: NotAllowed) -> None:
    """Tell why the person cannot be deleted."""
    if err.details.get("reason") == "self":
        ctx.answer(texts.USER_DELETE_SELF, alert=True)
        return
    count = int(err.details.get("count", 0))
    ctx.answer(texts.USER_DELETE_HOLDS.format(count=texts.devices_count(count)), alert=True)


def bootstrap_refused(ctx: Ctx, person: Person) -> bool:
    """Refuse (alert) removing an admin from ADMIN_IDS; True if refused."""
    if person.telegram_id is None or not ctx.config.is_bootstrap_admin(person.telegram_id):
        return False
    if ctx.person is not None and person.id == ctx.person.id:
        return False  # «you cannot delete yourself» says it better
    ctx.answer(texts.USER_ADMIN_PROTECTED, alert=True)
    return True


def on_delete(ctx: Ctx, args: Args) -> None:
    """usd:<person id> — refuse while they hold devices, otherwise ask to confirm."""
    person = person_or_alert(ctx, args.int(0))
    if person is None or bootstrap_refused(ctx, person):
        return
    card = admin_people.person_card(person.id)
    if person.id == ctx.me.id:
        refuse_delete(ctx, NotAllowed(reason="self"))
        return
    if card.holding:
        refuse_delete(ctx, NotAllowed(reason="holds", count=len(card.holding)))
        return
    queues = ", ".join(f"№{entry.device.number}" for entry in card.queues) or texts.EMPTY_VALUE
    ctx.show(texts.USER_DELETE_ASK.format(name=label(person), email=texts.e(person.email),
                                          queues=queues),
             keyboards.confirm_keyboard(texts.BTN_YES_DELETE, f"usdo:{person.id}",
                                        f"usr:{person.id}"))


def on_delete_confirmed(ctx: Ctx, args: Args) -> None:
    """usdo:<person id> — soft-delete: history stays, queue entries go."""
    person = person_or_alert(ctx, args.int(0))
    if person is None or bootstrap_refused(ctx, person):
        return
    try:
        deleted = admin_people.delete_person(person.id, actor=ctx.me, now=ctx.now,
                                             hold_hours=ctx.config.hold_hours)
    except NotAllowed as err:
        refuse_delete(ctx, err)
        return
    except NotFound:
        ctx.answer(texts.USER_GONE, alert=True)
        return
    ctx.show(texts.USER_DELETED.format(name=label(person), email=texts.e(person.email)))
    affected.person_deleted(ctx.bot.notifier, ctx.config, deleted)
    if person.is_admin and person.telegram_id is not None:
        # A deleted admin is no admin (access.is_admin): the menu follows at once.
        menus.set_chat_menu(ctx.bot, person.telegram_id, admin=False)


# --- admin rights ----------------------------------------------------------------------------


def on_set_admin(ctx: Ctx, person_id: int, granted: bool) -> None:
    """Grant or take away admin rights, change the person's menu, tell them."""
    person = person_or_alert(ctx, person_id)
    if person is None:
        return
    try:
        access.set_admin(person.id, granted, actor=ctx.person, now=ctx.now,
                         bootstrap_ids=ctx.config.admin_ids)
    except NotAllowed as err:
        reason = str(err.details.get("reason"))
        ctx.answer({"bootstrap": texts.USER_ADMIN_PROTECTED, "self": texts.USER_ADMIN_SELF}.get(
            reason, texts.USER_ADMIN_UNREGISTERED), alert=True)
        return
    if person.telegram_id is not None:  # set_admin refuses people who never registered
        menus.set_chat_menu(ctx.bot, person.telegram_id, admin=granted)
    ctx.bot.notifier.send(person, texts.NOTIFY_ADMIN_GRANTED if granted
                          else texts.NOTIFY_ADMIN_REVOKED)
    done = texts.USER_ADMIN_GRANTED if granted else texts.USER_ADMIN_REVOKED
    send_person(ctx, person.id, edit=True, prefix=done.format(name=label(person)))


def on_grant(ctx: Ctx, args: Args) -> None:
    """usa:<person id> — make a registered person an admin."""
    on_set_admin(ctx, args.int(0), True)


def on_revoke(ctx: Ctx, args: Args) -> None:
    """usn:<person id> — take admin rights away (never from ADMIN_IDS)."""
    on_set_admin(ctx, args.int(0), False)


# --- deleted people --------------------------------------------------------------------------


def on_deleted_list(ctx: Ctx, args: Args) -> None:
    """usdl:<page> — people an admin deleted, to open and restore."""
    found, page, pages, total = access.deleted_people(args.int(0))
    if not found:
        ctx.show(texts.USERS_DELETED_NONE)
        return
    rows = [[button(texts.USER_BUTTON.format(name=(p.name or p.email)[:30], email=p.email[:40]),
                    "usdc", p.id)] for p in found]
    nav: list[types.InlineKeyboardButton] = []
    if pages > 1:
        if page > 1:
            nav.append(button(texts.BTN_PREV, "usdl", page - 1))
        nav.append(button(texts.PAGE.format(page=page, pages=pages), keyboards.NOOP))
        if page < pages:
            nav.append(button(texts.BTN_NEXT, "usdl", page + 1))
    ctx.show(texts.USERS_DELETED_TITLE.format(total=total), keyboards.rows(*rows, nav))


def on_deleted_card(ctx: Ctx, args: Args) -> None:
    """usdc:<person id> — a deleted person and «Восстановить»."""
    try:
        person = access.deleted_person(args.int(0))
    except NotFound:
        ctx.answer(texts.USER_GONE, alert=True)
        return
    telegram = ("@" + texts.e(person.username) if person.username else
                texts.USER_TELEGRAM_NO_USERNAME if person.telegram_id else texts.USER_TELEGRAM_NONE)
    ctx.show(texts.USER_DELETED_CARD.format(
        name=label(person), email=texts.e(person.email), telegram=telegram,
        date=texts.fmt_date(local_date(person.deleted_at, ctx.config)
                            if person.deleted_at else None)),
        keyboards.rows([button(texts.BTN_USER_RESTORE, "usrs", person.id)],
                       [button(texts.BTN_BACK, "usdl", 1)]))


def on_restore(ctx: Ctx, args: Args) -> None:
    """usrs:<person id> — let a deleted person back in; they are told."""
    try:
        person = access.restore(args.int(0), actor=ctx.person, now=ctx.now)
    except NotFound:
        ctx.answer(texts.USER_GONE, alert=True)
        return
    ctx.bot.notifier.send(person, texts.NOTIFY_RESTORED)
    if person.is_admin and person.telegram_id is not None:
        menus.set_chat_menu(ctx.bot, person.telegram_id, admin=True)
    send_person(ctx, person.id, edit=True, prefix=texts.USER_RESTORED.format(
        name=label(person), email=texts.e(person.email)))


def register(bot: DevtrackBot) -> None:
    """Wire /users, its buttons and its steps (admins only)."""
    bot.register_message_handler(on_users, commands=["users"], func=admin_common.is_admin)
    for prefix, fn in (("usr", on_person), ("usq", on_results_page), ("ush", on_history),
                       ("use", on_email), ("usc", on_comment), ("usx", on_clear_comment),
                       ("usd", on_delete), ("usdo", on_delete_confirmed),
                       ("usa", on_grant), ("usn", on_revoke), ("usdl", on_deleted_list),
                       ("usdc", on_deleted_card), ("usrs", on_restore)):
        bot.routes.callback(prefix, fn, role=ROLE_ADMIN)
    bot.routes.step(QUERY, on_query_text, role=ROLE_ADMIN)
    bot.routes.step(EMAIL, on_email_text, role=ROLE_ADMIN)
    bot.routes.step(COMMENT, on_comment_text, role=ROLE_ADMIN, media=True)
