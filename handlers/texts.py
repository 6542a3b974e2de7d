"""Every Russian string the bot shows, as named templates, plus formatting helpers."""

from __future__ import annotations

import html
from datetime import date, datetime

# --- helpers ---------------------------------------------------------------------------------


def e(value: object) -> str:
    """HTML-escape anything that came from a user or the database."""
    return html.escape(str(value), quote=False)


def plural(n: int, one: str, few: str, many: str) -> str:
    """Russian plural form for n: 1 день, 2 дня, 5 дней."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def days(n: int) -> str:
    """'3 дня'."""
    return f"{n} {plural(n, 'день', 'дня', 'дней')}"


def fmt_date(value: date | None) -> str:
    """dd.mm.yyyy."""
    return value.strftime("%d.%m.%Y") if value else ""


def fmt_short_date(value: date) -> str:
    """dd.mm."""
    return value.strftime("%d.%m")


def fmt_time(value: datetime) -> str:
    """dd.mm.yyyy HH:MM (already in local time)."""
    return value.strftime("%d.%m.%Y %H:%M")


# --- registration and help -------------------------------------------------------------------

ASK_EMAIL = (
    "Здравствуйте! Это devtrack — здесь видно, у кого какое общее оборудование.\n\n"
    "Чтобы начать, пришлите вашу рабочую почту, например <code>ivan.petrov@company.ru</code>."
)
ASK_EMAIL_DOMAINS = "Подойдёт адрес на {domains}."
BAD_EMAIL = (
    "«{text}» не похоже на адрес почты. Пришлите адрес целиком, "
    "например <code>ivan.petrov@company.ru</code>."
)
DOMAIN_REFUSED = (
    "Адрес {email} не подходит: нужна рабочая почта на {domains}. "
    "Если вашего домена нет в списке, обратитесь к администратору."
)
EMAIL_TAKEN = (
    "Адрес {email} уже зарегистрирован с другого аккаунта Telegram. "
    "Если это ваш адрес, обратитесь к администратору."
)
REGISTERED = "Готово, вы зарегистрированы как <b>{email}</b>."
ALREADY_REGISTERED = "Вы уже зарегистрированы как <b>{email}</b>."
NEED_REGISTRATION = "Сначала зарегистрируйтесь: пришлите рабочую почту."

HELP_USER = (
    "<b>Как пользоваться</b>\n"
    "• Напишите номер с наклейки, название или серийный номер — я найду устройство.\n"
    "• В карточке устройства: «Взять», «Вернуть», «В очередь».\n\n"
    "/all — все устройства\n"
    "/categories — по категориям\n"
    "/mine — что у меня\n"
    "/wishlist — мои очереди\n"
    "/cancel — прервать текущий диалог\n"
    "/help — эта справка"
)
HELP_ADMIN = (
    "\n\n<b>Администратору</b>\n"
    "/add — добавить устройство (или пришлите CSV/XLSX файлом)\n"
    "/edit — изменить устройство по номеру\n"
    "/users — сотрудники\n"
    "Почта или @username в поиске покажет, что у человека."
)
HELP_DEVELOPER = "\n\n<b>Разработчику</b>\n/dev — обслуживание: логи, выгрузки, резервные копии."

CMD_ALL = "Все устройства"
CMD_CATEGORIES = "Устройства по категориям"
CMD_MINE = "Что у меня"
CMD_WISHLIST = "Мои очереди"
CMD_CANCEL = "Прервать диалог"
CMD_HELP = "Справка"
CMD_ADD = "Добавить устройство"
CMD_EDIT = "Изменить устройство"
CMD_USERS = "Сотрудники"
CMD_DEV = "Обслуживание"

# --- generic ---------------------------------------------------------------------------------

ERROR = (
    "Что-то пошло не так, и действие не выполнено. Попробуйте ещё раз чуть позже; "
    "если повторится — напишите администратору."
)
ERROR_SHORT = "Что-то пошло не так. Попробуйте ещё раз."
CANCELLED = "Отменено. Ничего не сохранено."
NOTHING_TO_CANCEL = "Сейчас нечего отменять."
STALE_BUTTON = "Эта кнопка больше не действует. Откройте устройство заново."
NOT_FOUND = "Ничего не найдено по запросу «{query}». Весь список: /all"
UNSUPPORTED_MESSAGE = "Я понимаю только текст. Напишите номер, название или серийный номер."

BTN_CANCEL = "Отмена"
BTN_SKIP = "Пропустить"
BTN_BACK = "Назад"
BTN_PREV = "‹"
BTN_NEXT = "›"
PAGE = "{page}/{pages}"

# --- device card -----------------------------------------------------------------------------

CARD_TITLE = "<b>№{number} · {name}</b>"
CARD_CATEGORY = "Категория: {category}"
CARD_SERIAL = "Артикул / ЗН / СН: <code>{serial}</code>"
CARD_FIRMWARE = "Прошивка: {firmware}"
CARD_REGISTERED = "Дата регистрации: {date}"
CARD_COMMENT = "Комментарий: {comment}"
STATE_FREE = "🟢 Свободно"
STATE_HELD = "🔴 У {holder} с {since}"
STATE_DUE = "Вернуть до {date}"
STATE_NO_DUE = "Без срока возврата"
STATE_DUE_TODAY = "Вернуть сегодня, {date}"
STATE_OVERDUE = "⚠️ Просрочено на {days} (срок был {date})"
STATE_PLACE = "Место: {place}"
STATE_HOLD = "🟡 Придержано для {person} до {until}"
HOLDER_WITH_USERNAME = "{name} (@{username})"
YOU = "вас"

BTN_TAKE = "Взять"
BTN_RETURN = "Вернуть"
BTN_CHANGE_DUE = "Изменить дату"
BTN_CHANGE_PLACE = "Изменить место"
BTN_EDIT = "Изменить"
BTN_HISTORY = "История"
BTN_REFRESH = "Обновить"

# --- lists -----------------------------------------------------------------------------------

LIST_ALL = "<b>Все устройства</b> ({total})"
LIST_CATEGORY = "<b>{category}</b> ({total})"
LIST_SEARCH = "<b>Найдено по запросу «{query}»</b>: {total}"
LIST_EMPTY = "Здесь пока нет устройств."
LINE = "<b>{number}</b> {name} — {state}"
LINE_FREE = "свободно"
LINE_HELD = "у {holder}"
LINE_HELD_UNTIL = "у {holder} до {date}"
LINE_OVERDUE = "⚠️ просрочено у {holder}"
LINE_HOLD = "придержано для {person}"
BUTTON_DEVICE = "№{number} {name}"
PAGE_GONE = "Такой страницы уже нет — показываю последнюю."
CATEGORIES_TITLE = "<b>Категории</b> (свободно / всего)"
CATEGORY_BUTTON = "{name}: {free}/{total}"
CATEGORIES_EMPTY = "Категорий пока нет."
BTN_ALL_CATEGORIES = "‹ Категории"

MINE_TITLE = "<b>У вас {count}</b>"
MINE_LINE = "<b>{number}</b> {name} — {due}"
MINE_DUE = "до {date}"
MINE_NO_DUE = "без срока"
MINE_OVERDUE = "⚠️ просрочено на {days}"
MINE_EMPTY = "У вас сейчас ничего нет. Найти устройство: напишите его номер или название, или /all."

PERSON_HOLDS = "<b>{person}</b> — {email}\nНа руках: {count}"
PERSON_HOLDS_NOTHING = "<b>{person}</b> — {email}\nСейчас ничего не держит."

# --- take / return / change ------------------------------------------------------------------

ASK_PLACE = "Берёте <b>№{number} {name}</b>.\nГде оно будет? Например: «офис, 3 этаж» или «дома»."
ASK_DUE = "До какого числа? Выберите или напишите дату: <code>{example}</code>."
BAD_DATE = "Не понял дату «{text}». Напишите, например, <code>{example}</code> или выберите кнопку."
PAST_DATE = "{date} уже прошло. Напишите сегодняшнюю или будущую дату, например <code>{example}</code>."
PLACE_TOO_LONG = "Слишком длинно — уложитесь в {limit} символов."
TAKEN = "Записал: <b>№{number} {name}</b> у вас."
TAKEN_BY_OTHER = "Пока вы оформляли, <b>№{number} {name}</b> взял(а) {holder}. Ничего не записано."
HELD_FOR_OTHER = "<b>№{number} {name}</b> придержано для {person} до {until}: он(а) первый в очереди."
ASK_RETURN = "Вернули <b>№{number} {name}</b>?"
RETURNED = "Спасибо! Возврат <b>№{number} {name}</b> записан."
ASK_NEW_DUE = "Новая дата возврата <b>№{number} {name}</b>? Выберите или напишите: <code>{example}</code>."
ASK_NEW_PLACE = "Где теперь <b>№{number} {name}</b>? Напишите место."
DUE_CHANGED = "Срок возврата <b>№{number} {name}</b>: {due}."
PLACE_CHANGED = "Место <b>№{number} {name}</b>: {place}."
NOT_HOLDER = "Это может сделать только тот, у кого устройство."
ALREADY_RETURNED = "Устройство уже возвращено."
DEVICE_GONE = "Устройство не найдено — возможно, его удалили."
ALREADY_YOURS = "Это устройство уже у вас."

BTN_TODAY = "Сегодня"
BTN_TOMORROW = "Завтра"
BTN_WEEK = "Через неделю"
BTN_TWO_WEEKS = "Через 2 недели"
BTN_NO_DUE = "Без срока"
BTN_YES_RETURNED = "Да, вернул"

# --- reminders -------------------------------------------------------------------------------

REMIND_OVERDUE = "Просрочено на {days} (срок был {date}):"
REMIND_TODAY = "Сегодня пора вернуть ({date}):"
REMIND_TOMORROW = "Завтра пора вернуть ({date}):"
# A due date on a non-working day further than tomorrow, announced on the last working day.
REMIND_ON_DAY = "{weekday}, {date}, пора вернуть:"
REMIND_DAY_OFF = "Это нерабочий день — удобнее вернуть сегодня."
REMIND_LINE = "• <b>№{number}</b> {name}"
REMIND_FOOTER = "Вернули — нажмите «Вернуть». Нужно ещё — «Продлить на неделю»."
REMIND_PART = "<i>Часть {part} из {parts}</i>"
WEEKDAYS_ON = ("В понедельник", "Во вторник", "В среду", "В четверг", "В пятницу", "В субботу",
               "В воскресенье")

BTN_EXTEND = "Продлить на неделю"
BTN_NUMBERED = "№{number} · {label}"

EXTENDED = "Продлено: <b>№{number} {name}</b> — вернуть до {date}."
EXTEND_STALE = "Срок уже изменён: {due}. Откройте устройство, чтобы продлить ещё."

DIGEST_TITLE = "<b>Просрочено устройств: {count}</b> на {date}"
DIGEST_LINE = "• <b>№{number}</b> {name} — {holder}, просрочено на {days}"
DIGEST_UNREACHABLE_TITLE = "<b>Не получают сообщения бота, но держат устройства: {count}</b>"
DIGEST_UNREACHABLE_LINE = "• {person} — {email}, {devices}"


def devices_count(n: int) -> str:
    """'3 устройства'."""
    return f"{n} {plural(n, 'устройство', 'устройства', 'устройств')}"
