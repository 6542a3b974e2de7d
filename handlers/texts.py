"""Every Russian string the bot shows, as named templates, plus formatting helpers."""

from __future__ import annotations

import html
from datetime import date, datetime
from typing import Any

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


def device_title(device: Any) -> dict[str, Any]:
    """Template arguments naming a device: {number} and the escaped {name}."""
    return {"number": device.number, "name": e(device.name)}


def days(n: int) -> str:
    """'3 дня'."""
    return f"{n} {plural(n, 'день', 'дня', 'дней')}"


def fmt_date(value: date | None) -> str:
    """dd.mm.yyyy."""
    return value.strftime("%d.%m.%Y") if value else ""


def fmt_time(value: datetime) -> str:
    """dd.mm.yyyy HH:MM (already in local time): the date through fmt_date."""
    return f"{fmt_date(value.date())} {value:%H:%M}"


# --- registration and help -------------------------------------------------------------------

ASK_EMAIL = (
    "Здравствуйте. Это devtrack — здесь видно, у кого какое общее оборудование.\n\n"
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
REGISTERED = "Готово, вы зарегистрированы: <b>{email}</b>."
ALREADY_REGISTERED = "Вы уже зарегистрированы: <b>{email}</b>."
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
    "/users — сотрудники: права администратора, удалённые\n"
    "/labels — наклейки с QR-кодами (PDF)\n"
    "/export — выгрузка устройств и истории выдач в таблицу\n"
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
DIALOG_OUTDATED = "Пока шёл диалог, всё изменилось, и он прерван. Откройте устройство заново."
STALE_BUTTON = "Эта кнопка больше не действует. Откройте устройство заново."
NOT_FOUND = "Ничего не найдено по запросу «{query}». Весь список: /all"
UNSUPPORTED_MESSAGE = "Я понимаю текст, кнопки и файлы CSV/XLSX. Напишите номер, название или серийный номер устройства."

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
STATE_HELD = "🔴 Сейчас у: {holder}, с {since}"
STATE_DUE = "Срок возврата: {date}"
STATE_NO_DUE = "Без срока возврата"
STATE_DUE_TODAY = "Срок возврата: сегодня, {date}"
STATE_OVERDUE = "⚠️ Просрочено на {days} (срок был {date})"
STATE_PLACE = "Место: {place}"
STATE_HOLD = "🟡 Придержано до {until}, для: {person}"
HOLDER_WITH_USERNAME = "{name} (@{username})"

BTN_TAKE = "Взять"
BTN_RETURN = "Вернуть"
BTN_CHANGE_DUE = "Изменить срок"
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
LINE_HELD = "у: {holder}"
LINE_HELD_UNTIL = "у: {holder}, до {date}"
LINE_OVERDUE = "⚠️ просрочено, у: {holder}"
LINE_HOLD = "придержано для: {person}"
BUTTON_DEVICE = "№{number} {name}"
PAGE_GONE = "Такой страницы уже нет — показываю последнюю."
CATEGORIES_TITLE = "<b>Категории</b> (свободно / всего)"
CATEGORY_BUTTON = "{name}: {free}/{total}"
CATEGORIES_EMPTY = "Категорий пока нет."
BTN_ALL_CATEGORIES = "‹ Категории"

MINE_TITLE = "<b>У вас устройств: {count}</b>"
MINE_LINE = "<b>{number}</b> {name} — {due}"
MINE_DUE = "срок {date}"
MINE_NO_DUE = "без срока"
MINE_OVERDUE = "⚠️ просрочено на {days}"
MINE_EMPTY = "У вас сейчас ничего нет. Найти устройство: напишите его номер или название, или /all."

PERSON_HOLDS = "<b>{person}</b> — {email}\nНа руках: {count}"
PERSON_HOLDS_NOTHING = "<b>{person}</b> — {email}\nСейчас ничего не держит."

# --- take / return / change ------------------------------------------------------------------

ASK_PLACE = "Берёте <b>№{number} {name}</b>.\nГде оно будет? Например: «офис, 3 этаж» или «дома»."
ASK_DUE = "Срок возврата? Выберите или напишите дату: <code>{example}</code>."
BAD_DATE = "Не понял дату «{text}». Напишите, например, <code>{example}</code>, или выберите кнопку."
PAST_DATE = "Дата {date} уже прошла. Напишите сегодняшнюю или будущую дату, например <code>{example}</code>."
PLACE_TOO_LONG = "Слишком длинно — уложитесь в {limit} символов."
TAKEN = "Записал: <b>№{number} {name}</b> у вас."
TAKEN_BY_OTHER = "Пока вы оформляли, <b>№{number} {name}</b> успели взять. Сейчас у: {holder}. Ничего не записано."
HELD_FOR_OTHER = "<b>№{number} {name}</b> придержано до {until} для первого в очереди: {person}."
ASK_RETURN = "Вернули <b>№{number} {name}</b>?"
RETURNED = "Спасибо, возврат <b>№{number} {name}</b> записан."
ASK_NEW_DUE = "Новый срок возврата <b>№{number} {name}</b>? Выберите или напишите: <code>{example}</code>."
ASK_NEW_PLACE = "Где теперь <b>№{number} {name}</b>? Напишите место."
DUE_CHANGED = "Новый срок возврата <b>№{number} {name}</b>: {due}."
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

# --- queue, holds, handover ------------------------------------------------------------------


def people_count(n: int) -> str:
    """'1 человек', '3 человека', '5 человек'."""
    return f"{n} {plural(n, 'человек', 'человека', 'человек')}"


BTN_JOIN_QUEUE = "В очередь"
BTN_LEAVE_QUEUE = "Выйти из очереди"
BTN_DECLINE_HOLD = "Отказаться"

QUEUE_COUNT = "👥 В очереди: {count}"
QUEUE_YOUR_PLACE = "Ваше место в очереди: {position} из {count}"
QUEUE_HOLD_YOURS = "Устройство ждёт вас: заберите его и нажмите «Взять» — или «Отказаться»."
QUEUE_HOLDER_WARNING = "⚠️ Это устройство ждут в очереди: {count}."
QUEUE_ADMIN_TITLE = "<b>Очередь</b>"
QUEUE_ADMIN_LINE = "{position}. {person}"
QUEUE_ADMIN_HOLD_LINE = "🟡 {person} — придержано до {until}"

JOINED = "Вы в очереди на <b>№{number} {name}</b>, ваше место: {position}. Когда устройство освободится, я напишу."
LEFT_QUEUE = "Вы вышли из очереди на <b>№{number} {name}</b>."
QUEUE_DEVICE_FREE = "<b>№{number} {name}</b> свободно — вставать в очередь не нужно, его можно взять сразу."
QUEUE_ALREADY = "Вы уже в очереди, ваше место: {position}."
QUEUE_ALREADY_HELD = "Устройство уже придержано для вас до {until}: нажмите «Взять»."
QUEUE_NOT_IN = "Вас нет в очереди на это устройство."

HOLD_OFFER = (
    "🟡 <b>№{number} {name}</b> освободилось и придержано для вас до {until}.\n"
    "Заберите его и нажмите «Взять». Если оно больше не нужно — «Отказаться», "
    "и устройство перейдёт следующему в очереди."
)
HOLD_LAPSED = "⌛ <b>№{number} {name}</b> больше не придержано для вас: время вышло ({until}). Если оно ещё нужно — откройте карточку и встаньте в очередь снова."
HOLD_DECLINED = "Вы отказались от <b>№{number} {name}</b>."
HOLD_GONE = "Устройство уже не придержано для вас."

WISHLIST_TITLE = "<b>Мои очереди</b> ({total})"
WISHLIST_EMPTY = (
    "Вы не стоите ни в одной очереди. Встать в очередь можно в карточке занятого устройства: "
    "кнопка «В очередь»."
)
WISHLIST_LINE = "<b>{number}</b> {name} — место {position}, {state}"
WISHLIST_LINE_HOLD = "<b>{number}</b> {name} — 🟡 придержано для вас до {until}"

BTN_HANDOVER = "Передать коллеге"
BTN_HANDOVER_ACCEPT = "Принять"
BTN_HANDOVER_DECLINE = "Отклонить"
BTN_HANDOVER_CANCEL = "Отменить передачу"
BTN_COLLEAGUE = "{name} · {email}"

HANDOVER_ASK = (
    "Кому передать <b>№{number} {name}</b>? Напишите рабочую почту, имя или @username коллеги — "
    "коллега должен быть зарегистрирован в боте."
)
HANDOVER_NOBODY = "Среди зарегистрированных никого не нашёл по «{query}». Попробуйте почту или @username."
HANDOVER_SELF = "Это ваш адрес. Напишите почту, имя или @username коллеги."
HANDOVER_PICK = "Нашлось несколько человек — кому передать <b>№{number} {name}</b>?"
HANDOVER_TOO_MANY = "Слишком много совпадений ({count}). Напишите почту или @username."
HANDOVER_OFFERED = "Предложение принять <b>№{number} {name}</b> отправлено. Кому: {person}. Сообщу, когда будет ответ."
HANDOVER_REQUEST = (
    "Вам передают <b>№{number} {name}</b>. От кого: {holder}.\n"
    "Срок возврата: {due}. Примите, когда устройство будет у вас в руках."
)
HANDOVER_ACCEPTED_YOU = "Записал: <b>№{number} {name}</b> теперь у вас. Срок возврата: {due} — его можно изменить в карточке."
HANDOVER_ACCEPTED_HOLDER = "Передача принята: <b>№{number} {name}</b> теперь у: {person}."
HANDOVER_DECLINED_YOU = "Вы отклонили передачу <b>№{number} {name}</b>."
HANDOVER_DECLINED_HOLDER = "Передачу <b>№{number} {name}</b> отклонили (кому предлагали: {person}). Устройство по-прежнему записано на вас."
HANDOVER_CANCELLED = "Передача <b>№{number} {name}</b> отменена."
HANDOVER_CANCELLED_TO = "Передача <b>№{number} {name}</b> отменена. От кого: {holder}."
HANDOVER_VOID_TO = "Передача <b>№{number} {name}</b> отменена: устройство вернули."
HANDOVER_PENDING_LINE = "⏳ Ждём ответа на передачу. Кому: {person}."
HANDOVER_PENDING_FOR_YOU = "⏳ Вам предлагают это устройство. От кого: {holder}."
HANDOVER_ALREADY_PENDING = "Передача <b>№{number} {name}</b> уже предложена (кому: {person}). Отмените её, чтобы предложить другому."
HANDOVER_GONE = "Это предложение передачи больше не действует."
HANDOVER_UNDELIVERED = (
    "Не получилось написать (кому: {person}): бот заблокирован или недоступен. Передача отменена — "
    "попросите коллегу открыть бота и попробуйте снова."
)

# --- developer tools ---

DEV_MENU = "<b>Обслуживание</b>\nЛоги, выгрузка устройств, дамп базы и опасные действия."
BTN_DEV_LOG = "Лог: последние {count} строк"
BTN_DEV_LOG_FILE = "Лог файлом"
BTN_DEV_EXPORT_CSV = "Устройства в CSV"
BTN_DEV_EXPORT_XLSX = "Устройства в XLSX"
BTN_DEV_DUMP = "Дамп базы"
BTN_DEV_PURGE = "Удалить свободные устройства"
BTN_DEV_WIPE = "Очистить базу"
BTN_DEV_PURGE_ALL = "Все категории: свободно {free}"
BTN_DEV_PURGE_CATEGORY = "{name}: свободно {free}"

DEV_LOG_TITLE = "Лог {path}, последних строк: {count}"
DEV_LOG_MISSING = "Файла лога {path} нет: бот ещё ничего в него не записал, или LOG_FILE указывает не туда."
DEV_LOG_EMPTY = "Лог {path} пуст."
DEV_LOG_USAGE = "Напишите /dev log N, чтобы увидеть последние N строк лога (N от 1 до {limit}), или /dev для меню."
DEV_LOG_CAPTION = "Лог {path}"
DEV_LOG_CAPTION_TAIL = "Лог {path}: только конец файла, он больше лимита Telegram на документы"

DEV_EXPORT_CAPTION = "Устройств: {count}. Импорт принимает этот файл без изменений."
DEV_DUMP_CAPTION = "Дамп базы: строк {rows}, схема {version}.\nВосстановить: <code>python -m jobs.restore {name}</code>"
DEV_FILE_TOO_BIG = "Файл получился {size} МБ, а Telegram принимает от бота не больше {limit} МБ. Ничего не отправлено."
DEV_SEND_FAILED = "Telegram не принял файл, ничего не отправлено. Попробуйте ещё раз позже."
DEV_DUMP_FAILED = "Не удалось прочитать базу для дампа. Подробности в логе."

DEV_PURGE_CHOOSE = "<b>Удаление свободных устройств</b>\nСвободно {free} из {total}. Что удалить? Устройства на руках не удаляются никогда."
DEV_PURGE_NOTHING = "Свободных устройств ({scope}) нет — удалять нечего."
DEV_SCOPE_ALL = "все категории"
DEV_SCOPE_CATEGORY = "категория «{name}»"
DEV_PURGE_LINE = "№{number} {name}"
DEV_PURGE_MORE = "… и ещё {count}"
DEV_PURGE_CONFIRM = (
    "<b>Удаление свободных устройств</b>: {scope}\n\n"
    "Будет удалено устройств: <b>{count}</b>\n{devices}\n\n"
    "Остаются на руках и не будут тронуты: {held}.\n"
    "Вместе с устройствами удалятся записей истории выдач: {loans}, записей очереди: {queue}. "
    "Их история сохранится в журнале.\n\n"
    "Перед удалением я пришлю резервную копию базы.\n"
    "Чтобы подтвердить, пришлите код разработчика (DEVELOPER_CODE). Сообщение с кодом я сразу удалю."
)
DEV_WIPE_CONFIRM = (
    "<b>Очистка базы</b>\n\nБудут удалены все данные:\n{tables}\n\n"
    "Затем миграции применятся заново, а категории создадутся из настройки CATEGORIES. "
    "Всем, и вам тоже, придётся зарегистрироваться заново.\n\n"
    "Перед очисткой я пришлю резервную копию базы.\n"
    "Чтобы подтвердить, пришлите код разработчика (DEVELOPER_CODE). Сообщение с кодом я сразу удалю."
)
DEV_TABLE_LINE = "• {title}: {count}"
DEV_TABLE_TITLES = {
    "category": "категорий",
    "device": "устройств",
    "person": "сотрудников",
    "loan": "записей о выдачах",
    "queueentry": "записей в очередях",
    "handover": "передач из рук в руки",
    "auditlog": "записей журнала",
    "dialogstate": "незаконченных диалогов",
}

DEV_CODE_WRONG = "Код неверный, ничего не сделано. Осталось попыток: {left}. Пришлите код ещё раз или нажмите «Отмена»."
DEV_CODE_LOCKED = "Три неверных кода подряд. Опасные действия заблокированы до {until}. Ничего не сделано."
DEV_LOCKED = "Опасные действия заблокированы до {until}: перед этим трижды введён неверный код."
DEV_CODE_EMPTY = "Пришлите код разработчика текстом или нажмите «Отмена»."
DEV_CODE_NOT_DELETED = "Не получилось удалить сообщение с кодом — удалите его сами."
DEV_CODE_OK = "Код верный. Делаю резервную копию…"
DEV_BACKUP_CAPTION = "Резервная копия перед действием «{action}»: строк {rows}, схема {version}."
DEV_BACKUP_FAILED = "Резервную копию не удалось {what}, поэтому ничего не удалено. Попробуйте позже; подробности в логе."
DEV_BACKUP_NOT_MADE = "сделать"
DEV_BACKUP_NOT_SENT = "отправить"
DEV_BACKUP_TOO_BIG = "отправить: она больше {limit} МБ"
DEV_ACTION_PURGE = "удаление свободных устройств"
DEV_ACTION_WIPE = "очистка базы"
DEV_PURGE_DONE = "Удалено свободных устройств: {count}. История каждого записана в журнал."
DEV_PURGE_SKIPPED = "Не тронуто устройств: {count} — пока вы подтверждали, их взяли или уже удалили."
DEV_WIPE_DONE = "База очищена, миграции применены заново (схема {version}). Категорий создано: {categories}.\nЧтобы снова пользоваться ботом, зарегистрируйтесь: /start"

# --- admin tools -----------------------------------------------------------------------------

FIELD_NUMBER = "Номер"
FIELD_NAME = "Название"
FIELD_CATEGORY = "Категория"
FIELD_SERIAL = "Артикул / ЗН / СН"
FIELD_REGISTERED = "Дата регистрации"
FIELD_FIRMWARE = "Прошивка"
FIELD_COMMENT = "Комментарий"
EXAMPLE_NAME = "Эвотор 7.2"
EXAMPLE_SERIAL = "00106700123456"
EXAMPLE_FIRMWARE = "4.9.1"
EXAMPLE_COMMENT = "с блоком питания"
EXAMPLE_CATEGORY = "Счётчик купюр"
EXAMPLE_REGISTERED = fmt_date(date(2024, 2, 1))
EXAMPLE_EMAIL = "ivan.petrov@company.ru"
EXAMPLE_PLACE = "офис, 3 этаж"
EMPTY_VALUE = "—"

# Validation: the reason, then an example of a good answer.
ERR_NUMBER_FORMAT = "«{text}» — не номер: нужен целый положительный номер с наклейки, например <code>{example}</code>."
ERR_NUMBER_TAKEN = "Номер {number} уже занят устройством \"{name}\". Напишите другой номер, например <code>{example}</code>."
ERR_SERIAL_TAKEN = "Артикул «{serial}» уже есть у устройства №{number} \"{name}\". Проверьте наклейку и напишите другой, например <code>{example}</code>."
ERR_EMPTY = "{field} не может быть пустым. Напишите, например: <code>{example}</code>."
ERR_TOO_LONG = "{field}: слишком длинно, уложитесь в {limit} символов. Например: <code>{example}</code>."
ERR_DATE = "Не понял дату «{text}». Напишите день, месяц и год, например <code>{example}</code>."
ERR_CATEGORY_UNKNOWN = "Категории «{text}» нет. Выберите кнопкой или нажмите «Новая категория»."
ERR_EMAIL_DOMAIN = "Адрес {email} не подходит: разрешены адреса на {domains}. Например: <code>{example}</code>."
ERR_TEXT_ONLY = "Здесь нужен текст. Например: <code>{example}</code>."

BTN_NEW_CATEGORY = "Новая категория"
BTN_CONFIRM = "Подтвердить"
BTN_CLEAR = "Очистить"

# /add
ADD_STEP = "Новое устройство, шаг {step} из {steps}.\n"
ADD_ASK_NUMBER = "Номер с наклейки? Например: <code>{example}</code>."
ADD_ASK_NAME = "Название? Например: <code>{example}</code>."
ADD_ASK_CATEGORY = "Категория? Выберите кнопкой или нажмите «Новая категория»."
ADD_ASK_NEW_CATEGORY = "Как назвать новую категорию? Например: <code>{example}</code>."
ADD_ASK_SERIAL = "Артикул / ЗН / СН? Например: <code>{example}</code>."
ADD_ASK_REGISTERED = "Дата регистрации? Например: <code>{example}</code>. Можно пропустить."
ADD_ASK_FIRMWARE = "Прошивка? Например: <code>{example}</code>. Можно пропустить."
ADD_ASK_COMMENT = "Комментарий? Например: «{example}». Можно пропустить."
ADD_ASK_HOLDER = (
    "У кого устройство сейчас? Напишите почту сотрудника, например <code>{example}</code> — "
    "можно и того, кто ещё не зарегистрирован в боте. Если устройство свободно, нажмите «Пропустить»."
)
ADD_ASK_PLACE = "Где устройство сейчас? У кого: {holder}. Например: «офис, 3 этаж». Можно пропустить."
ADD_ASK_DUE = "Срок возврата? У кого: {holder}. Выберите или напишите дату: <code>{example}</code>."
ADD_CURRENT = "Сейчас: {value}"
ADD_SUMMARY = "<b>Проверьте новое устройство</b>\n\n{lines}\n\nВсё верно?"
ADD_SUMMARY_FREE = "Свободно"
ADD_SUMMARY_HOLDER = "У кого: {email} ({status})"
ADD_HOLDER_REGISTERED = "зарегистрирован"
ADD_HOLDER_UNREGISTERED = "ещё не зарегистрирован — привяжется, когда зарегистрируется"
ADD_DONE = "Готово: <b>№{number} {name}</b> добавлено."

# /edit and the admin part of the card
EDIT_ASK_NUMBER = "Какое устройство изменить? Напишите номер с наклейки, например <code>{example}</code>."
EDIT_NO_SUCH = "Устройства с номером {number} нет. Напишите номер с наклейки, например <code>{example}</code>."
EDIT_MENU = "Что изменить?"
EDIT_ASK_VALUE = "<b>№{number} {name}</b> — {field}.\nСейчас: {current}\nНапишите новое значение, например <code>{example}</code>."
EDIT_ASK_CATEGORY = "<b>№{number} {name}</b> — категория.\nСейчас: {current}\nВыберите новую кнопкой или нажмите «Новая категория»."
EDIT_SAVED = "Сохранено: {field} — {value}."
BTN_EDIT_NUMBER = "Номер"
BTN_EDIT_NAME = "Название"
BTN_EDIT_CATEGORY = "Категория"
BTN_EDIT_SERIAL = "Артикул"
BTN_EDIT_REGISTERED = "Дата регистрации"
BTN_EDIT_FIRMWARE = "Прошивка"
BTN_EDIT_COMMENT = "Комментарий"
BTN_ASSIGN = "Выдать сотруднику"
BTN_UNASSIGN = "Снять с сотрудника"
BTN_DELETE = "Удалить"
BTN_TO_CARD = "‹ К карточке"

# assign / unassign
ASSIGN_ASK_WHO = "Кому выдать <b>№{number} {name}</b>? Напишите почту, имя или @username сотрудника."
ASSIGN_FOUND = "Кому из них выдать <b>№{number} {name}</b>? Или напишите запрос точнее."
ASSIGN_FOUND_MORE = "Показаны {shown} из {total} — уточните запрос."
ASSIGN_NOBODY = "Никого не нашлось по «{query}». Напишите почту, имя или @username, например <code>{example}</code>."
ASSIGN_NEW_EMAIL = "Сотрудника с почтой {email} в боте ещё нет. Выдать на эту почту? Устройство появится у сотрудника, когда он зарегистрируется."
BTN_ASSIGN_NEW = "Выдать на {email}"
ASSIGN_ALREADY_HELD = "Устройство сейчас у: {holder}. Сначала снимите его с сотрудника."
ASSIGN_ASK_PLACE = "Где будет <b>№{number} {name}</b>? Кому: {person}. Например: «офис, 3 этаж». Можно пропустить."
ASSIGN_ASK_DUE = "Срок возврата? Выберите или напишите дату: <code>{example}</code>."
ASSIGNED = "Записал: <b>№{number} {name}</b>, сейчас у: {person}."
ASSIGN_TAKEN = "Пока вы оформляли, <b>№{number} {name}</b> успели взять. Сейчас у: {holder}. Ничего не записано."
NOTIFY_ASSIGNED = "Администратор записал на вас <b>№{number} {name}</b>{due}."
NOTIFY_ASSIGNED_DUE = ", срок возврата: {date}"
UNASSIGN_ASK = "Снять <b>№{number} {name}</b> с сотрудника? Сейчас у: {holder}. Сотруднику придёт уведомление."
BTN_YES_UNASSIGN = "Да, снять"
UNASSIGNED = "<b>№{number} {name}</b> свободно. Было у: {holder}."
NOTIFY_UNASSIGNED = "Администратор отметил, что <b>№{number} {name}</b> больше не у вас. Если это ошибка — напишите администратору."

# history
HISTORY_TITLE = "<b>История №{number} {name}</b> (выдач: {total})"
HISTORY_PERSON_TITLE = "<b>История: {person}</b> (выдач: {total})"
HISTORY_EMPTY = "Выдач ещё не было."
HISTORY_LINE = "{start} — {end} · {who}"
HISTORY_NOW = "сейчас"
HISTORY_PLACE = " · {place}"
HISTORY_DUE = " · срок {date}"
HISTORY_ASSIGNED_BY = " · выдача: {admin}"
HISTORY_DEVICE = "№{number} {name}"

# delete a device
DELETE_ASK = "Удалить <b>№{number} {name}</b>? История выдач сохранится в журнале."
BTN_YES_DELETE = "Да, удалить"
DELETE_HELD = "Нельзя удалить: устройство сейчас у: {holder}. Сначала снимите его с сотрудника."
DELETED = "Устройство <b>№{number} {name}</b> удалено. История выдач сохранена в журнале."

# file import
IMPORT_TOO_BIG = "Файл слишком большой: {size} МБ, а можно не больше {limit} МБ. Разделите его на части."
IMPORT_DOWNLOAD_FAILED = "Не удалось скачать файл из Telegram. Пришлите его ещё раз."
IMPORT_FILE_ERROR = "Файл «{name}» не прочитан: {reason}"
IMPORT_READING = "Получил «{name}», читаю файл…"
IMPORT_CHECKING = "Проверяю строки «{name}»: {rows}…"
IMPORT_ERRORS = "<b>Файл «{name}» не импортирован</b>: ошибок — {count}. Ничего не записано; исправьте файл и пришлите его снова.\n\n{errors}"
IMPORT_ERRORS_MORE = "…и ещё {count}. Полный список — в файле ниже."
IMPORT_ERRORS_FILE = "ошибки-импорта.txt"
IMPORT_PREVIEW = "<b>Файл «{name}»</b>\nНовых устройств: {new}\nОбновлений существующих (по номеру): {updates}\nВыдач сотрудникам: {loans}{warnings}\n\nИмпортировать?"
IMPORT_WARNING = "⚠️ {text}"
IMPORT_CHANGED = "Пока вы смотрели, данные в базе изменились — вот новый предпросмотр."
BTN_IMPORT = "Импортировать"
IMPORT_APPLYING = "Импортирую «{name}»: {done} из {total}…"
IMPORT_DONE = (
    "<b>Импорт «{name}» завершён</b>\nДобавлено устройств: {created}\nОбновлено: {updated}\n"
    "Без изменений: {unchanged}\nВыдач записано: {loans}\nНовых сотрудников (пока только почта): {people}"
)
IMPORT_RACE = "Пока шёл импорт, данные в базе изменились, поэтому ничего не записано. Пришлите файл ещё раз."
IMPORT_STALE = "Этот предпросмотр устарел. Пришлите файл ещё раз."

# /users
USERS_TITLE = "<b>Сотрудники</b> ({total})\nНапишите почту, имя или @username, чтобы найти."
USERS_FOUND = "<b>Найдено по «{query}»</b>: {total}"
USERS_NOT_FOUND = "Никого не нашлось по «{query}». Напишите почту, имя или @username, например <code>{example}</code>."
USER_BUTTON = "{name} — {email}"
USER_CARD_TITLE = "<b>{name}</b>"
USER_EMAIL = "Почта: {email}"
USER_TELEGRAM = "Telegram: {telegram}"
USER_TELEGRAM_NONE = "не зарегистрирован — известен только по почте"
USER_TELEGRAM_NO_USERNAME = "зарегистрирован, без @username"
USER_REACHABLE = "Бот может писать: да"
USER_UNREACHABLE = "⚠️ Бот не может писать (заблокировал бота или удалил аккаунт)"
USER_COMMENT = "Комментарий: {comment}"
USER_HOLDS = "<b>На руках: {count}</b>"
USER_HOLDS_NOTHING = "На руках: ничего"
USER_QUEUES = "<b>В очередях: {count}</b>"
USER_QUEUES_NONE = "В очередях: нет"
USER_QUEUE_LINE = "<b>{number}</b> {name} — с {date}"
USER_MORE = "…и ещё {count}"
USER_HISTORY = "<b>Последние выдачи</b>"
BTN_USER_EMAIL = "Изменить почту"
BTN_USER_COMMENT = "Комментарий"
BTN_USER_CLEAR_COMMENT = "Удалить комментарий"
BTN_USER_HISTORY = "История"
BTN_USER_DELETE = "Удалить сотрудника"
BTN_TO_USER = "‹ К сотруднику"
USER_ASK_EMAIL = "Новая почта? Сотрудник: {name}, сейчас: {email}. Например: <code>{example}</code>."
USER_EMAIL_TAKEN = "Адрес {email} уже у другого сотрудника: {other}. Напишите другой адрес."
USER_EMAIL_CHANGED = "Почта изменена: {email}."
USER_ASK_COMMENT = "Комментарий? Сотрудник: {name}. Например: «{example}». Сейчас: {current}"
EXAMPLE_USER_COMMENT = "в отпуске до " + fmt_date(date(2026, 12, 15))
USER_COMMENT_SAVED = "Комментарий сохранён."
USER_COMMENT_CLEARED = "Комментарий удалён."
USER_COMMENT_TOO_LONG = "Слишком длинно — уложитесь в {limit} символов."
USER_DELETE_ASK = "Удалить сотрудника: {name} ({email})? Мест в очередях освободится: {queues}. История выдач сохранится."
USER_DELETE_HOLDS = "Нельзя удалить: у сотрудника на руках {count}. Сначала снимите устройства."
USER_DELETE_SELF = "Себя удалить нельзя."
USER_DELETED = "Сотрудник удалён: {name} ({email}). История выдач сохранена."
USER_GONE = "Сотрудник не найден — возможно, его удалили."

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

EXTENDED = "Продлено: <b>№{number} {name}</b>, срок возврата: {date}."
EXTEND_STALE = "Срок уже изменён: {due}. Откройте устройство, чтобы продлить ещё."

DIGEST_TITLE = "<b>Просрочено устройств: {count}</b> на {date}"
DIGEST_LINE = "• <b>№{number}</b> {name} — {holder}, просрочено на {days}"
DIGEST_UNREACHABLE_TITLE = "<b>Не получают сообщения бота, но держат устройства: {count}</b>"
DIGEST_UNREACHABLE_LINE = "• {person} — {email}, {devices}"
DIGEST_NOT_REGISTERED = " (ещё не зарегистрирован в боте)"


def devices_count(n: int) -> str:
    """'3 устройства'."""
    return f"{n} {plural(n, 'устройство', 'устройства', 'устройств')}"


def domains_text(domains: list[str] | tuple[str, ...]) -> str:
    """'@a.ru или @b.ru' (escaped)."""
    return " или ".join(f"@{e(d)}" for d in domains)

# --- switch-over from the predecessor bot ----------------------------------------------------

LEGACY_TITLE_DRY = "Перенос из старого бота — проверка: ничего не записано"
LEGACY_TITLE_APPLIED = "Перенос из старого бота — записано"
LEGACY_TITLE_NOTHING = "Перенос из старого бота — всё уже перенесено, ничего не изменилось"
LEGACY_SOURCE = "Источник: {url}{version}"
LEGACY_VERSION = " (версия схемы {version})"
LEGACY_TIMEZONE = "Даты старого бота прочитаны в часовом поясе {timezone}."
LEGACY_COUNTS_TITLE = "Сколько записей:"
LEGACY_COUNT = "• {title}: {total} — новых {new}, уже в devtrack {existing}"
LEGACY_COUNT_TITLES = {
    "categories": "Категории",
    "devices": "Устройства",
    "people": "Сотрудники",
    "open_loans": "Выданы сейчас",
    "queue": "Записи в очередях",
    "past_loans": "Прошлые выдачи",
}
LEGACY_HISTORY_SINCE = (
    "История выдач начинается {date}: старый бот удалял выдачи старше 100 дней."
)
LEGACY_FROM_QUEUE_TITLE = (
    "Отданы первому в очереди при возврате: {count}. Старый бот записал их на этих людей "
    "сам — проверьте, что устройства у них:"
)
LEGACY_FROM_QUEUE_LINE = "• №{number} — {email}, с {taken}"
LEGACY_ISSUES_TITLE = "Конфликты: {count} (в каждой строке — что сделает перенос)"
LEGACY_NO_ISSUES = "Конфликтов нет."
LEGACY_ADMINS_TITLE = "Администраторы старого бота: {count}. Добавьте их в ADMIN_IDS:"
LEGACY_ADMIN_LINE = "• {email}{name} — Telegram id {telegram_id}"
LEGACY_ADMIN_NOT_REGISTERED = "• {email}{name} — ещё не зарегистрирован, id появится после регистрации"
LEGACY_ADMIN_IDS = "ADMIN_IDS={ids}"
LEGACY_NO_ADMINS = "Администраторов в старом боте нет."
LEGACY_COLUMNS = {"take_date": "дата взятия", "enqueue_date": "дата очереди",
                  "return_date": "возврат"}
LEGACY_ISSUES = {
    "missing_category": "Категория «{name}» есть у устройств, но не в списке категорий — будет создана.",
    "category_merged": "Категория «{name}» отличается от «{kept}» только регистром или пробелами — устройства попадут в «{kept}».",
    "device_differs": "№{number}: уже есть в devtrack как «{name}», в старом боте «{legacy_name}» (отличается: {fields}) — оставлено как в devtrack.",
    "serial_empty": "№{number}: пустой серийный номер — записан как «{serial}».",
    "serial_taken": "№{number}: серийный номер «{serial}» уже у устройства №{other} — записан как «{new_serial}», исправьте вручную.",
    "future_registration": "№{number}: дата регистрации {value} в будущем — оставлена как есть.",
    "email_cases": "Одна почта в разных регистрах: {emails} — это один сотрудник {email}, все его записи переносятся на него.",
    "email_invalid": "{email}: не похоже на почту — перенесено как есть, исправьте в /users.",
    "email_domain": "{email}: домен не из EMAIL_DOMAINS — перенесено как есть.",
    "telegram_ids_differ": "{email}: у написаний почты разные Telegram id ({ids}) — оставлен {kept}.",
    "telegram_id_taken": "{email}: Telegram id {telegram_id} уже занят (владелец: {other}) — перенесён без Telegram id, бот привяжет его, когда сотрудник напишет эту почту.",
    "telegram_id_differs": "{email}: в devtrack Telegram id {ours}, в старом боте {telegram_id} — оставлен id из devtrack.",
    "person_restored": "{email}: был удалён в devtrack — будет восстановлен.",
    "missing_device": "Запись #{record} ({email}) ссылается на несуществующее устройство №{number} — пропущена.",
    "missing_person": "Запись #{record}: сотрудника {email} нет в списке сотрудников — будет создан по почте.",
    "finished_without_take": "Запись #{record} (№{number}, {email}): завершена, но устройство не брали — пропущена.",
    "two_open_takes": "№{number}: два открытых взятия — держателем станет {kept} (взял позже); взятие {email} от {taken} уходит в историю с возвратом {until}.",
    "place_cut": "№{number}: место длиннее {limit} символов — будет обрезано.",
    "holder_differs": "№{number}: держатель в devtrack: {ours}, в старом боте: {email} — оставлено как в devtrack.",
    "no_dates": "Запись #{record} (№{number}, {email}): нет ни даты очереди, ни даты взятия — встанет в очередь по дате создания записи.",
    "future_date": "Запись #{record} (№{number}, {email}): {column} {value} в будущем — будет заменена временем переноса.",
    "queue_duplicate": "Запись #{record}: {email} стоит в очереди на №{number} второй раз — оставлено более раннее место.",
    "holder_queued": "Запись #{record}: {email} стоит в очереди на №{number}, хотя сам его держит — из очереди убран.",
    "free_with_queue": "№{number}: никто не держит, но есть очередь — бот придержит устройство для первого в очереди.",
    "no_return_date": "Запись #{record} (№{number}, {email}): завершена без даты возврата — возвратом будет {value}.",
    "returned_before_taken": "Запись #{record} (№{number}, {email}): возврат раньше взятия — возвратом будет время взятия.",
    "loan_duplicate": "Запись #{record} (№{number}, {email}): такая выдача уже есть — пропущена.",
}
LEGACY_FIELDS = {"name": "название", "serial": "серийный номер", "category": "категория"}
BTN_DEV_LEGACY = "Перенос из старого бота: проверка"
DEV_LEGACY_NO_URL = (
    "Адрес базы старого бота не задан. Добавьте в .env или окружение бота "
    "<code>LEGACY_DATABASE_URL=postgresql://user:password@host:5432/db</code> и перезапустите "
    "бота. Пароль в чат писать не нужно."
)
DEV_LEGACY_RUNNING = "Читаю базу старого бота и сверяю с devtrack, ничего не записываю…"
DEV_LEGACY_FAILED = "Не удалось прочитать базу старого бота: {error}"
DEV_LEGACY_CAPTION = (
    "Проверка переноса: конфликтов {issues}, новых устройств {devices}. Ничего не записано. "
    "Перенос выполняет <code>python -m jobs.import_legacy … --apply</code>."
)

# --- identity and access -----------------------------------------------------------------------

# The same reply for every address: it never tells whether an email is registered or known.
REG_ASK_CODE = (
    "Если адрес верный, код придёт на почту {email}. Пришлите шесть цифр из письма — "
    "код действует 15 минут. Ошиблись адресом — просто пришлите другой."
)
REG_CODE_HINT = "Пришлите шесть цифр из письма или другой адрес почты."
REG_CODE_WRONG = "Код не подошёл. Осталось попыток: {left}."
REG_CODE_EXPIRED = (
    "Код устарел или уже использован. Пришлите адрес почты ещё раз — придёт новый код."
)
REG_LOCKED = "Слишком много попыток. Попробуйте снова после {until}."
REG_MAIL_FAILED = (
    "Не получилось отправить письмо с кодом. Попробуйте ещё раз через несколько минут, "
    "а если не выйдет — обратитесь к администратору."
)
MAIL_SUBJECT = "Код для входа в devtrack"
MAIL_BODY = (
    "Ваш код для devtrack: {code}\n\n"
    "Код действует 15 минут. Если вы его не запрашивали, просто удалите это письмо."
)
REG_REQUEST_SENT = (
    "Спасибо. Запрос отправлен администраторам — я напишу, как только они ответят."
)
REG_REQUEST_WAITING = "Ваш запрос ещё ждёт ответа администратора. Я напишу, когда он ответит."
REG_APPROVED = "Администратор одобрил ваш запрос. Вы зарегистрированы как <b>{email}</b>."
REG_REJECTED = (
    "Администратор отклонил ваш запрос. Если это ошибка, свяжитесь с администратором напрямую."
)
REG_REFUSED = "С этим адресом зарегистрироваться нельзя. Обратитесь к администратору."

ACCESS_REQUEST = (
    "<b>Запрос на доступ</b>\n"
    "Telegram: {name} ({username})\n"
    "Почта: {email}"
)
ACCESS_NO_USERNAME = "без @username"
ACCESS_KNOWN = (
    "⚠️ Этот адрес известен по импорту, в боте его владелец ещё не регистрировался; "
    "за ним числится: {devices}. Одобряйте, только если уверены, что пишет он сам."
)
BTN_APPROVE = "Одобрить"
BTN_REJECT = "Отклонить"
ACCESS_APPROVED_BY = "✅ Одобрено — {admin}"
ACCESS_REJECTED_BY = "❌ Отклонено — {admin}"
ACCESS_VOID = "Запрос закрыт: адрес уже занят или его владельца удалили."
ACCESS_ALREADY = "Уже решено: {decision}"
ACCESS_DONE = "Готово."

USER_ADMIN = "Администратор"
USER_ADMIN_BOOTSTRAP = "Администратор из ADMIN_IDS (права не снимаются)"
BTN_USER_MAKE_ADMIN = "Сделать администратором"
BTN_USER_REVOKE_ADMIN = "Снять права администратора"
USER_ADMIN_GRANTED = "{name} теперь администратор."
USER_ADMIN_REVOKED = "{name} больше не администратор."
USER_ADMIN_PROTECTED = "Это администратор из ADMIN_IDS: его нельзя лишить прав или удалить."
USER_ADMIN_SELF = "Свои права снять нельзя — попросите другого администратора."
USER_ADMIN_UNREGISTERED = "Сотрудник ещё не зарегистрирован в боте."
NOTIFY_ADMIN_GRANTED = "Вам выданы права администратора: /add, /edit, /users. Подробнее — /help."
NOTIFY_ADMIN_REVOKED = "Права администратора сняты. /help — что доступно."

BTN_USERS_DELETED = "Удалённые ({count})"
USERS_DELETED_TITLE = "<b>Удалённые сотрудники: {total}</b>. Пока сотрудник удалён, бот его не пускает."
USERS_DELETED_NONE = "Удалённых сотрудников нет."
USER_DELETED_CARD = (
    "<b>{name}</b> — удалён {date}\n"
    "Почта: {email}\n"
    "Telegram: {telegram}\n\n"
    "Бот не пускает этого сотрудника, пока администратор его не восстановит."
)
BTN_USER_RESTORE = "Восстановить"
USER_RESTORED = "Сотрудник {name} ({email}) восстановлен."
NOTIFY_RESTORED = "Администратор вернул вам доступ к devtrack. /help — что я умею."

# A stray DEVELOPER_CODE is answered like any search, without showing it again.
CODE_MASK = "•••"
DEV_TABLE_TITLES.update({
    "registrationcode": "кодов подтверждения почты",
    "accessrequest": "запросов на доступ",
})

# --- records stay true (races and faults) ---
DB_UNAVAILABLE = "Не могу связаться с базой данных. Попробуйте через минуту."
DB_UNAVAILABLE_SHORT = "База данных недоступна. Попробуйте через минуту."
IMPORT_INTERRUPTED = (
    "Импорт «{name}» не выполнен: бот перезапускался, пока записывал файл, и ничего не "
    "записано. Пришлите файл ещё раз."
)
NOTIFY_DEVICE_DELETED = (
    "Устройство <b>№{number} {name}</b> удалено из учёта, и ваше место в очереди за ним снято."
)
NOTIFY_HOLD_ASSIGNED = (
    "Администратор выдал <b>№{number} {name}</b> сотруднику {holder}, поэтому устройство "
    "больше не ждёт вас. Вы остаётесь в очереди и получите его, когда его вернут."
)
NOTIFY_HANDOVER_PERSON_DELETED = (
    "Передача <b>№{number} {name}</b> отменена: {person} больше нет среди сотрудников. "
    "Устройство остаётся у вас."
)
# --- everyday polish -------------------------------------------------------------------------

MORE_MATCHES = "Ещё совпадения: {count}"
BTN_MORE_MATCHES = "Показать ещё совпадения"
UNKNOWN_COMMAND = "Не знаю такой команды. Вот что я умею:"
TAKE_HELD_NOW = "<b>№{number} {name}</b> уже взяли. Сейчас у: {holder}."
DATE_TOO_FAR = "Срок возврата — не дальше {limit}. Напишите дату ближе, например <code>{example}</code>."
IMPORT_WARNINGS_MORE = "…и ещё предупреждений: {count}"
# --- labels and admin export -----------------------------------------------------------------

CMD_LABELS = "Наклейки с QR-кодами"
CMD_EXPORT = "Выгрузка в таблицу"

LABELS_CHOOSE = "Для каких устройств напечатать наклейки с QR-кодом?"
BTN_LABELS_ALL = "Все ({count})"
BTN_LABELS_CATEGORY = "{name} ({count})"
BTN_LABELS_NUMBERS = "Номера…"
BTN_LABELS_NEW = "Без наклеек ({count})"
LABELS_NO_DEVICES = "Устройств пока нет — наклейки печатать не для чего. Добавьте их: /add"
LABELS_ASK_NUMBERS = "Напишите номера через запятую, диапазоны через дефис. Например: <code>101-130, 145, 150</code>"
LABELS_REVERSED = "«{text}» — начало диапазона больше конца; может быть, {fixed}?"
LABELS_NOT_A_NUMBER = "«{text}» — не номер и не диапазон."
LABELS_TOO_MANY = "«{text}» — слишком много номеров: не больше {limit} за раз."
LABELS_MISSING = "Нет устройств с номерами: {numbers}."
LABELS_VALID = "Годятся: {numbers} — {devices}."
LABELS_RETYPE = "Напишите номера ещё раз или нажмите «Отмена»."
LABELS_FIX_OR_GO = "Можно продолжить с ними или написать номера заново."
BTN_LABELS_CONTINUE = "Продолжить: {devices}"
LABELS_NOTHING = "Нет устройств для наклеек: {what}."
LABELS_WHAT_ALL = "все устройства"
LABELS_WHAT_CATEGORY = "категория «{name}»"
LABELS_WHAT_NUMBERS = "номера {numbers}"
LABELS_WHAT_NEW = "устройства без наклеек"
LABELS_ASK_LAYOUT = "Наклейки: {what} — {devices}. На какой бумаге печатать?"
BTN_LAYOUT_A4X24 = "A4, 3 × 8 (70 × 37 мм)"
BTN_LAYOUT_A4X40 = "A4, 4 × 10 (52,5 × 29,7 мм)"
BTN_LAYOUT_THERMAL = "Термопринтер 58 × 40 мм"
LABELS_PROGRESS = "Готовлю наклейки: {done} из {total}…"
LABELS_DONE = "Готово: {labels}."
LABELS_CAPTION = "Наклейки: {labels}, {layout}. Печатайте в масштабе 100% (без «подогнать по размеру»)."
LABELS_CAPTION_PART = "Наклейки, часть {part} из {parts}: {labels}, {layout}."
LABELS_NO_USERNAME = "Не удалось узнать у Telegram имя бота для ссылок в QR-кодах. Попробуйте через минуту."
LABELS_SEND_FAILED = "Не удалось отправить файл с наклейками. Попробуйте ещё раз чуть позже."
LABELS_TOO_BIG = "Файл с наклейками вышел больше {limit} МБ — выберите меньше устройств за раз."

EXPORT_CHOOSE = "Выгрузка: устройства и история выдач. В каком формате?"
BTN_EXPORT_XLSX = "Excel (XLSX)"
BTN_EXPORT_CSV = "CSV"
EXPORT_ASK_PERIOD = "История выдач за какой срок?"
BTN_PERIOD_DAYS = "{days}"
BTN_PERIOD_ALL = "За всё время"
BTN_PERIOD_NONE = "Только устройства"
EXPORT_CAPTION = "Устройства: {devices}; выдачи {period}: {loans}. Лист «Устройства» можно загрузить обратно как импорт."
EXPORT_CAPTION_DEVICES = "Устройства: {devices}. Файл можно загрузить обратно как импорт."
EXPORT_CAPTION_LOANS = "Выдачи {period}: {loans}."
EXPORT_PERIOD_DAYS = "за {days} (с {start})"
EXPORT_PERIOD_ALL = "за всё время"
EXPORT_SEND_FAILED = "Не удалось отправить файл. Попробуйте ещё раз чуть позже."
EXPORT_TOO_BIG = "Файл вышел больше {limit} МБ — выберите срок истории короче."


def labels_count(n: int) -> str:
    """'3 наклейки'."""
    return f"{n} {plural(n, 'наклейка', 'наклейки', 'наклеек')}"


def loans_count(n: int) -> str:
    """'3 выдачи'."""
    return f"{n} {plural(n, 'выдача', 'выдачи', 'выдач')}"


# --- import problems (codes of inventory.importing, rendered by handlers/import_problems.py) ---
IMPORT_FORMATS = "CSV (.csv, .txt) или Excel (.xlsx)"
IMPORT_FILE_BINARY = "Файл не похож на таблицу: в нём двоичные данные, а не текст. Пришлите {formats}."
IMPORT_FILE_EMPTY = "Файл пустой. Пришлите таблицу с заголовком и строками устройств."
IMPORT_FILE_HEADER_ONLY = "В файле только заголовок, строк с устройствами нет."
IMPORT_FILE_BAD_BOM = "Не удалось прочитать текст: файл начинается как {encoding}, но дальше в нём не текст. Сохраните его заново как CSV UTF-8."
IMPORT_FILE_QUOTE_NEAR = "Не закрыта кавычка около строки {row}: проверьте кавычки в файле."
IMPORT_FILE_QUOTE_IN = "Не закрыта кавычка в строке {row}: проверьте кавычки в файле."
IMPORT_FILE_TOO_MANY_ROWS = "В файле больше {limit} строк с устройствами. Разделите его на части не больше {limit} строк и пришлите по очереди."
IMPORT_FILE_XLSX_UNREADABLE = "Не удалось открыть XLSX: файл повреждён, защищён паролем или это не книга Excel. Сохраните его заново как .xlsx или CSV."
IMPORT_FILE_XLSX_DAMAGED = "Не удалось прочитать XLSX: файл повреждён. Сохраните его заново как .xlsx или CSV."
IMPORT_FILE_LOOKS_XLSX = "Это похоже на книгу Excel, а не на CSV: пришлите её с расширением .xlsx."
IMPORT_FILE_EXTENSION = "Файлы «{extension}» не поддерживаются. Пришлите {formats}."
IMPORT_FILE_NO_EXTENSION = "Файлы без расширения не поддерживаются. Пришлите {formats}."
IMPORT_ROW = "Строка {row}: {reason}"
IMPORT_NO_HEADER = "в файле нет заголовка и строк с устройствами"
IMPORT_REPEATED_COLUMN = "столбцы «{first}» и «{second}» оба означают «{field}», оставьте один"
IMPORT_MISSING_COLUMN = "в заголовке нет обязательного столбца {names}"
IMPORT_MISSING_COLUMNS = "в заголовке нет обязательных столбцов {names}"
IMPORT_REQUIRED_EMPTY = "не заполнено поле «{field}»"
IMPORT_BAD_NUMBER = "номер «{value}» должен быть целым положительным числом"
IMPORT_DUPLICATE_NUMBER = "номер {number} уже встречался в строке {first}"
IMPORT_TOO_LONG = "поле «{field}» длиннее {limit} символов"
IMPORT_UNKNOWN_CATEGORY = "неизвестная категория «{value}»"
IMPORT_DUPLICATE_SERIAL = "серийный номер «{serial}» уже встречался в строке {first}"
IMPORT_SERIAL_TAKEN = "серийный номер «{serial}» уже есть у устройства № {owner}"
IMPORT_BAD_DATE = "неверная дата в поле «{field}»: «{value}», нужен формат ДД.ММ.ГГГГ"
IMPORT_BAD_EMAIL = "неверный адрес почты «{value}»"
IMPORT_EMAIL_DOMAIN = "адрес «{value}» не на разрешённом домене ({domains})"
IMPORT_DUE_WITHOUT_EMAIL = "срок возврата указан, а почта держателя — нет"
IMPORT_NO_ROWS = "в файле нет строк с устройствами"
IMPORT_UNKNOWN_COLUMN = "Неизвестный столбец «{title}» пропущен"
IMPORT_PLACE_WITHOUT_HOLDER = "В {rows} место указано без почты держателя: место хранится только у выданного устройства, эти места пропущены"
# How an import column is called in messages: the predecessor's header word first.
IMPORT_FIELD_TITLES = {
    "number": "Айди (номер)",
    "name": "Название",
    "category": "Категория",
    "serial": "Артикул (серийный номер)",
    "registered_on": "Дата регистрации",
    "firmware": "Прошивка",
    "comment": "Комментарий",
    "email": "Электронная почта",
    "place": "Место устройства",
    "due_date": "Срок возврата",
}


def in_rows(n: int) -> str:
    """«1 строке», «5 строках»: the count with the locative of «строка»."""
    word = "строке" if n % 10 == 1 and n % 100 != 11 else "строках"
    return f"{n} {word}"
