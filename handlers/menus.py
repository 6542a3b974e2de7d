"""Command menus per role, published with setMyCommands (per chat for admins and developers)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telebot import types

from handlers import texts

if TYPE_CHECKING:
    from dispatch import DevtrackBot

logger = logging.getLogger(__name__)


def user_commands() -> list[types.BotCommand]:
    """The menu everyone sees."""
    return [
        types.BotCommand("all", texts.CMD_ALL),
        types.BotCommand("categories", texts.CMD_CATEGORIES),
        types.BotCommand("mine", texts.CMD_MINE),
        types.BotCommand("wishlist", texts.CMD_WISHLIST),
        types.BotCommand("cancel", texts.CMD_CANCEL),
        types.BotCommand("help", texts.CMD_HELP),
    ]


def commands_for(*, admin: bool, developer: bool) -> list[types.BotCommand]:
    """The menu of one chat by its roles."""
    commands = user_commands()
    if admin:
        commands += [types.BotCommand("add", texts.CMD_ADD),
                     types.BotCommand("edit", texts.CMD_EDIT),
                     types.BotCommand("users", texts.CMD_USERS),
                     types.BotCommand("labels", texts.CMD_LABELS),
                     types.BotCommand("export", texts.CMD_EXPORT)]
    if developer:
        commands.append(types.BotCommand("dev", texts.CMD_DEV))
    return commands


def publish(bot: DevtrackBot, commands: list[types.BotCommand],
            scope: types.BotCommandScope) -> bool:
    """setMyCommands; a refusal is logged (a menu is a convenience, never a failure)."""
    try:
        bot.set_my_commands(commands, scope=scope)
    except Exception as exc:  # noqa: BLE001 - never a reason to stop or to fail an action
        logger.warning("could not set the command menu (%s): %s", scope.type, exc)
        return False
    return True


def set_chat_menu(bot: DevtrackBot, chat_id: int, *, admin: bool) -> bool:
    """Change one person's menu at once (after their admin rights changed)."""
    developer = bot.config.is_developer(chat_id)
    return publish(bot, commands_for(admin=admin, developer=developer),
                   types.BotCommandScopeChat(chat_id))
