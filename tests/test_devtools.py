"""Hidden developer tools through updates in / Bot API calls out: menu, logs, exports, dump,
guarded purge and wipe, the code lock-out, and that nobody else can reach any of it."""

from __future__ import annotations

import csv
import io
import json
import logging
import zipfile
from datetime import date, timedelta

import openpyxl
import peewee as pw
import pytest
from conftest import ADMIN_ID, DEV_ID, LATEST_MIGRATION, USER_ID

from bot import setup_commands
from handlers import devtools as dev_handlers
from handlers import texts
from handlers.devtools import CODE_STATE, log_chunks, utf16_len
from inventory import backup, devtools
from models import MODELS, AuditLog, Category, Device, DialogState, Loan, Person, QueueEntry

CODE = "s3cret-code"
LOCKED_UNTIL = "26.11.2026 12:15"  # T0 is 12:00 in Moscow; the lock lasts 15 minutes


@pytest.fixture
def people(seed):
    """A user, an admin and a developer, all registered."""
    return (seed.person(USER_ID, "user@company.ru", name="Иван Петров"),
            seed.person(ADMIN_ID, "admin@company.ru", name="Админ"),
            seed.person(DEV_ID, "dev@company.ru", name="Разработчик"))


@pytest.fixture
def fleet(seed, people):
    """Free and held devices in two categories, with history and a queue."""
    user = people[0]
    scales = [seed.device(n, f"Весы {n}", category="Весы") for n in (1, 2, 3)]
    kassa = [seed.device(n, f"Касса {n}") for n in (10, 11)]
    seed.loan(scales[0], user, due=date(2026, 12, 1), place="склад")  # held: never deleted
    old = seed.loan(kassa[0], user, place="офис")  # returned: history to keep
    Loan.update(returned_at=seed.clock.now).where(Loan.id == old.id).execute()
    QueueEntry.create(device=kassa[1], person=people[1])
    return {"scales": scales, "kassa": kassa}


def counts() -> dict[str, int]:
    """Rows in every table."""
    return {m._meta.table_name: m.select().count() for m in MODELS}


def actions(telegram_id: int = DEV_ID) -> list[str]:
    """Audit actions of one actor, in order."""
    return [a.action for a in AuditLog.select().where(AuditLog.actor_telegram_id == telegram_id)
            .order_by(AuditLog.id)]


def documents(sender) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every sendDocument."""
    return [c.files["document"] for c in sender.of("sendDocument")]


def ask_code(harness, data: str) -> str:
    """Press a guarded action and return the confirmation text."""
    return harness.press(DEV_ID, data).last(DEV_ID).text


def send_code(harness, code: str, message_id: int) -> None:
    """Type a code as message message_id."""
    harness.send(DEV_ID, code, message_id=message_id)


def deleted(sender) -> list[int]:
    """Message ids passed to deleteMessage."""
    return [int(c.params["message_id"]) for c in sender.of("deleteMessage")]


# --- menu, logs, exports, dump ---------------------------------------------------------------


def test_dev_opens_the_menu(harness, people):
    call = harness.send(DEV_ID, "/dev").last(DEV_ID)
    assert call.text == texts.DEV_MENU
    labels = [b["text"] for b in call.buttons]
    for label in (texts.BTN_DEV_LOG_FILE, texts.BTN_DEV_EXPORT_CSV, texts.BTN_DEV_EXPORT_XLSX,
                  texts.BTN_DEV_DUMP, texts.BTN_DEV_PURGE, texts.BTN_DEV_WIPE):
        assert label in labels
    assert actions() == ["dev.menu"]


def test_dev_is_in_the_command_menu_of_developer_chats_only(harness, sender, people):
    setup_commands(harness.bot)
    menus = {json.dumps(c.params.get("scope")): [x["command"] for x in
                                                 json.loads(c.params["commands"])]
             for c in sender.of("setMyCommands")}
    for scope, commands in menus.items():
        assert ("dev" in commands) == (str(DEV_ID) in scope), scope


def test_log_tail_is_escaped_and_split_to_fit(harness, sender, config, people):
    lines = [f"2026-11-26 INFO line {i:03d} <b>&amp; {'я' * 80}</b>" for i in range(300)]
    with open(config.log_file, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    harness.press(DEV_ID, "dev:log:200")
    sent = sender.texts(DEV_ID)
    assert len(sent) > 1
    assert sent[0].startswith(texts.e(texts.DEV_LOG_TITLE.format(path=config.log_file,
                                                                  count=200)))
    body = "\n".join(t.split("<pre>", 1)[1].removesuffix("</pre>") for t in sent)
    assert body == texts.e("\n".join(lines[-200:]))
    assert "<b>" not in body
    assert actions()[-1] == "dev.log"


def test_log_chunks_fit_telegram_even_for_long_lines():
    lines = ["x" * 10_000, "", "🙂" * 3000, "short"]
    chunks = log_chunks("Лог", lines)
    visible = [c.replace("<pre>", "").replace("</pre>", "") for c in chunks]
    assert all(utf16_len(v) <= 4096 for v in visible)
    assert "".join(v.replace("Лог\n", "", 1) for v in visible).replace("\n", "") == \
        "x" * 10_000 + "🙂" * 3000 + "short"


def test_dev_log_command_takes_a_line_count(harness, sender, config, people):
    with open(config.log_file, "w", encoding="utf-8") as handle:
        handle.write("".join(f"line {i}\n" for i in range(10)))
    text = harness.send(DEV_ID, "/dev log 3").last(DEV_ID).text
    assert text.endswith("<pre>line 7\nline 8\nline 9</pre>")
    for bad in ("/dev log abc", "/dev log 0", "/dev log 100000"):
        assert harness.send(DEV_ID, bad).last(DEV_ID).text == texts.DEV_LOG_USAGE.format(
            limit=dev_handlers.MAX_LOG_LINES)


def test_missing_or_empty_log(harness, config, people):
    for data in ("dev:log:50", "dev:logfile"):
        assert harness.press(DEV_ID, data).last(DEV_ID).text == texts.DEV_LOG_MISSING.format(
            path=config.log_file)
    open(config.log_file, "w").close()
    assert harness.press(DEV_ID, "dev:logfile").last(DEV_ID).text == texts.DEV_LOG_EMPTY.format(
        path=config.log_file)


def test_whole_log_as_a_document(harness, sender, config, people):
    with open(config.log_file, "w", encoding="utf-8") as handle:
        handle.write("первая строка\nвторая строка\n")
    harness.press(DEV_ID, "dev:logfile")
    assert documents(sender) == [("devtrack.log", "первая строка\nвторая строка\n".encode())]
    assert sender.of("sendDocument")[0].params["caption"] == texts.DEV_LOG_CAPTION.format(
        path=config.log_file)


def test_export_buttons_send_csv_and_xlsx(harness, sender, fleet):
    harness.press(DEV_ID, "dev:export:csv")
    harness.press(DEV_ID, "dev:export:xlsx")
    (csv_name, csv_data), (xlsx_name, xlsx_data) = documents(sender)
    assert csv_name == "devices-2026-11-26.csv" and xlsx_name == "devices-2026-11-26.xlsx"
    rows = list(csv.reader(io.StringIO(csv_data.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 6 and rows[1][:3] == ["1", "Весы 1", "Весы"]
    assert rows[1][7:] == ["user@company.ru", "склад", "01.12.2026"]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_data)).worksheets[0]
    assert sheet.max_row == 6
    caption = sender.of("sendDocument")[0].params["caption"]
    assert caption == texts.DEV_EXPORT_CAPTION.format(count=5)
    assert [a for a in actions() if a == "dev.export"] == ["dev.export", "dev.export"]


def test_dump_button_sends_a_zip_of_every_table(harness, sender, fleet):
    before = counts()
    harness.press(DEV_ID, "dev:dump")
    ((name, data),) = documents(sender)
    assert name == "devtrack-dump-20261126-090000.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["tables"] == before
    assert manifest["schema_version"] == LATEST_MIGRATION
    assert "python -m jobs.restore" in sender.of("sendDocument")[0].params["caption"]


def test_refused_document_is_reported(harness, sender, fleet):
    sender.fail("sendDocument", 500, "Internal Server Error")
    assert harness.press(DEV_ID, "dev:dump").last(DEV_ID).text == texts.DEV_SEND_FAILED


# --- purge -----------------------------------------------------------------------------------


def test_purge_shows_scopes_with_free_counts(harness, fleet):
    call = harness.press(DEV_ID, "dev:purge").last(DEV_ID)
    assert call.text == texts.DEV_PURGE_CHOOSE.format(free=4, total=5)
    scales = Category.get(Category.name == "Весы")
    assert call.button(texts.BTN_DEV_PURGE_ALL.format(free=4))["callback_data"] == \
        "dev:purge:all"
    assert call.button(texts.BTN_DEV_PURGE_CATEGORY.format(name="Весы", free=2))[
        "callback_data"] == f"dev:purge:{scales.id}"


def test_purge_confirmation_says_exactly_what_happens(harness, fleet):
    text = ask_code(harness, "dev:purge:all")
    devices = "\n".join(texts.DEV_PURGE_LINE.format(number=n, name=name) for n, name in (
        (2, "Весы 2"), (3, "Весы 3"), (10, "Касса 10"), (11, "Касса 11")))
    assert text == texts.DEV_PURGE_CONFIRM.format(scope=texts.DEV_SCOPE_ALL, count=4,
                                                  devices=devices, held=1, loans=1, queue=1)
    assert DialogState.get(DialogState.chat_id == DEV_ID).state == CODE_STATE


def test_purge_with_the_right_code(backend, harness, sender, fleet):
    ask_code(harness, "dev:purge:all")
    sender.clear()
    send_code(harness, CODE, message_id=555)
    assert deleted(sender) == [555]
    methods = [c.method for c in sender.calls]
    assert methods.index("deleteMessage") < methods.index("sendDocument")
    ((name, data),) = documents(sender)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # the backup holds what is deleted
        assert len(json.loads(archive.read("device.json"))) == 5
    assert sender.last(DEV_ID).text == texts.DEV_PURGE_DONE.format(count=4)
    assert [d.number for d in Device.select()] == [1]  # the held one stays
    assert Loan.select().count() == 1 and QueueEntry.select().count() == 0
    purged = {json.loads(a.details)["device_number"]: json.loads(a.details)
              for a in AuditLog.select().where(AuditLog.action == devtools.PURGED_DEVICE)}
    assert sorted(purged) == [2, 3, 10, 11]
    assert purged[10]["loans"][0]["person_email"] == "user@company.ru"
    assert purged[10]["loans"][0]["place"] == "офис"
    assert purged[11]["queue"] == ["admin@company.ru"]
    assert all(a.device_id is None and a.actor_telegram_id == DEV_ID
               for a in AuditLog.select().where(AuditLog.action == devtools.PURGED_DEVICE))
    assert actions() == ["dev.purge_asked", devtools.CODE_OK, "dev.backup_sent",
                         *[devtools.PURGED_DEVICE] * 4, "dev.purge"]
    assert DialogState.get(DialogState.chat_id == DEV_ID).state is None


def test_purge_of_one_category(harness, sender, fleet):
    scales = Category.get(Category.name == "Весы")
    text = ask_code(harness, f"dev:purge:{scales.id}")
    assert texts.DEV_SCOPE_CATEGORY.format(name="Весы") in text
    send_code(harness, CODE, message_id=556)
    assert sender.last(DEV_ID).text == texts.DEV_PURGE_DONE.format(count=2)
    assert sorted(d.number for d in Device.select()) == [1, 10, 11]


def test_purge_never_touches_a_device_taken_while_confirming(harness, sender, fleet, people,
                                                             seed):
    ask_code(harness, "dev:purge:all")
    seed.loan(fleet["scales"][1], people[0])  # taken between the prompt and the code
    send_code(harness, CODE, message_id=557)
    assert sender.texts(DEV_ID)[-2:] == [texts.DEV_PURGE_DONE.format(count=3),
                                         texts.DEV_PURGE_SKIPPED.format(count=1)]
    assert sorted(d.number for d in Device.select()) == [1, 2]


def test_nothing_to_purge(harness, seed, people):
    seed.loan(seed.device(1), people[0])
    assert ask_code(harness, "dev:purge:all") == texts.DEV_PURGE_NOTHING.format(
        scope=texts.DEV_SCOPE_ALL)
    assert DialogState.get_or_none(DialogState.chat_id == DEV_ID) is None


# --- the code guard --------------------------------------------------------------------------


def test_wrong_code_refuses_and_deletes_the_message(harness, sender, fleet):
    before = counts()
    ask_code(harness, "dev:purge:all")
    sender.clear()
    send_code(harness, "wrong", message_id=601)
    assert deleted(sender) == [601]
    assert sender.last(DEV_ID).text == texts.DEV_CODE_WRONG.format(left=2)
    assert not sender.of("sendDocument")
    assert Device.select().count() == before["device"]
    assert actions()[-1] == devtools.CODE_FAILED
    # Still asked: the right code now works.
    send_code(harness, CODE, message_id=602)
    assert deleted(sender) == [601, 602]
    assert sender.last(DEV_ID).text == texts.DEV_PURGE_DONE.format(count=4)


def test_three_wrong_codes_lock_for_15_minutes(backend, harness, make_harness, sender, clock,
                                              fleet):
    ask_code(harness, "dev:purge:all")
    for message_id in (701, 702):
        send_code(harness, "nope", message_id)
    send_code(harness, "still-wrong", 703)
    assert deleted(sender) == [701, 702, 703]
    assert sender.last(DEV_ID).text == texts.DEV_CODE_LOCKED.format(until=LOCKED_UNTIL)
    assert DialogState.get(DialogState.chat_id == DEV_ID).state is None
    assert actions()[-2:] == [devtools.CODE_FAILED, devtools.LOCKED]
    # Locked: neither purge nor wipe even asks for the code, and the right code is refused.
    for data in ("dev:purge:all", "dev:wipe"):
        assert ask_code(harness, data) == texts.DEV_LOCKED.format(until=LOCKED_UNTIL)
    clock.advance(minutes=14, seconds=59)
    restarted = make_harness()  # a restart does not lift the lock: it lives in the audit log
    assert ask_code(restarted, "dev:wipe") == texts.DEV_LOCKED.format(until=LOCKED_UNTIL)
    # Non-destructive tools stay available.
    restarted.press(DEV_ID, "dev:dump")
    assert len(sender.of("sendDocument")) == 1
    clock.advance(seconds=1)
    assert ask_code(restarted, "dev:purge:all").startswith("<b>Удаление свободных устройств")
    send_code(restarted, "wrong-again", 704)  # the count starts afresh after the lock
    assert sender.last(DEV_ID).text == texts.DEV_CODE_WRONG.format(left=2)
    assert Device.select().count() == 5


def test_lock_applies_when_the_code_arrives(harness, sender, clock, fleet, people):
    ask_code(harness, "dev:purge:all")
    # Locked from elsewhere (e.g. another chat of the same developer) while asked for the code.
    for _ in range(3):
        devtools.code_failed(DEV_ID, people[2], clock.now, "wipe")
    send_code(harness, CODE, 710)
    assert deleted(sender) == [710]
    assert sender.last(DEV_ID).text == texts.DEV_LOCKED.format(until=LOCKED_UNTIL)
    assert Device.select().count() == 5


def test_failures_older_than_15_minutes_are_forgotten(harness, sender, clock, fleet):
    ask_code(harness, "dev:purge:all")
    send_code(harness, "x", 720)
    send_code(harness, "y", 721)
    clock.advance(minutes=16)
    send_code(harness, "z", 722)
    assert sender.last(DEV_ID).text == texts.DEV_CODE_WRONG.format(left=2)


def test_right_code_resets_the_count(harness, sender, clock, fleet):
    ask_code(harness, "dev:purge:all")
    send_code(harness, "x", 730)
    send_code(harness, "y", 731)
    send_code(harness, CODE, 732)
    ask_code(harness, "dev:wipe")
    send_code(harness, "z", 733)
    assert sender.last(DEV_ID).text == texts.DEV_CODE_WRONG.format(left=2)


def test_cancel_leaves_the_code_prompt(harness, sender, fleet):
    ask_code(harness, "dev:purge:all")
    harness.press(DEV_ID, "dlg:cancel")
    assert sender.last(DEV_ID).text == texts.CANCELLED
    sender.clear()
    send_code(harness, CODE, 740)  # now out of turn: deleted, not searched for, nothing done
    assert deleted(sender) == [740]
    assert sender.last(DEV_ID).text == texts.DEV_CODE_NOT_EXPECTED
    assert Device.select().count() == 5


def test_undeletable_code_message_is_reported(harness, sender, fleet):
    ask_code(harness, "dev:purge:all")
    sender.fail("deleteMessage", 400, "Bad Request: message can't be deleted")
    send_code(harness, "wrong", 750)
    assert texts.DEV_CODE_NOT_DELETED in sender.texts(DEV_ID)
    assert sender.last(DEV_ID).text == texts.DEV_CODE_WRONG.format(left=2)


def test_a_sticker_instead_of_the_code(harness, sender, fleet):
    ask_code(harness, "dev:purge:all")
    harness.update({"update_id": 99_001, "message": {
        "message_id": 760, "date": 0, "chat": {"id": DEV_ID, "type": "private"},
        "from": {"id": DEV_ID, "is_bot": False, "first_name": "Dev"},
        "sticker": {"file_id": "s", "file_unique_id": "u", "width": 1, "height": 1,
                    "is_animated": False, "is_video": False, "type": "regular"}}})
    assert sender.last(DEV_ID).text == texts.DEV_CODE_EMPTY
    assert actions().count(devtools.CODE_FAILED) == 0


# --- the backup before deleting --------------------------------------------------------------


@pytest.mark.parametrize("action", ["dev:purge:all", "dev:wipe"])
def test_unsent_backup_blocks_deletion(harness, sender, fleet, action):
    before = counts()
    ask_code(harness, action)
    sender.fail("sendDocument", 500, "Internal Server Error")
    send_code(harness, CODE, 801)
    assert sender.last(DEV_ID).text == texts.DEV_BACKUP_FAILED.format(
        what=texts.DEV_BACKUP_NOT_SENT)
    after = counts()
    assert after["device"] == before["device"] and after["person"] == before["person"]
    assert after["loan"] == before["loan"] and after["category"] == before["category"]
    assert actions()[-1] == "dev.backup_failed"


def test_backup_that_cannot_be_made_blocks_deletion(harness, sender, fleet, monkeypatch):
    def broken(*_args, **_kwargs):
        raise pw.OperationalError("disk I/O error")

    ask_code(harness, "dev:purge:all")
    monkeypatch.setattr(backup, "make_dump", broken)
    send_code(harness, CODE, 802)
    assert sender.last(DEV_ID).text == texts.DEV_BACKUP_FAILED.format(
        what=texts.DEV_BACKUP_NOT_MADE)
    assert Device.select().count() == 5 and not sender.of("sendDocument")


# --- wipe ------------------------------------------------------------------------------------


def test_wipe_confirmation_lists_every_table(harness, fleet):
    before = counts()
    text = ask_code(harness, "dev:wipe")
    for name, count in before.items():
        assert texts.DEV_TABLE_LINE.format(title=texts.DEV_TABLE_TITLES[name],
                                           count=count) in text
    assert set(texts.DEV_TABLE_TITLES) == set(before)


def test_wipe_with_the_right_code(backend, harness, sender, config, fleet):
    before = counts()
    ask_code(harness, "dev:wipe")
    send_code(harness, CODE, 901)
    assert deleted(sender) == [901]
    ((_, data),) = documents(sender)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert json.loads(archive.read("manifest.json"))["tables"]["device"] == before["device"]
    assert sender.last(DEV_ID).text == texts.DEV_WIPE_DONE.format(
        version=LATEST_MIGRATION, categories=len(config.categories))
    after = counts()
    assert after == {**{name: 0 for name in after}, "category": len(config.categories),
                     "auditlog": 1}
    entry = AuditLog.get()
    assert entry.action == "dev.wipe" and entry.actor_telegram_id == DEV_ID
    assert json.loads(entry.details)["removed"]["device"] == 5
    # The developer is unregistered now: the next message starts the registration.
    assert harness.send(DEV_ID, "/dev").last(DEV_ID).text.startswith(
        texts.ASK_EMAIL.split("\n")[0])


# --- secrecy and authorization ---------------------------------------------------------------


def test_the_code_is_never_written_anywhere(harness, sender, fleet, caplog):
    caplog.set_level(logging.DEBUG)
    ask_code(harness, "dev:purge:all")
    send_code(harness, CODE + "x", 950)
    send_code(harness, CODE, 951)
    send_code(harness, CODE, 952)  # once more, out of turn
    ask_code(harness, "dev:wipe")
    send_code(harness, CODE, 953)
    assert deleted(sender) == [950, 951, 952, 953]
    assert Person.select().count() == 0  # the wipe went through
    assert not [a for a in AuditLog.select() if CODE in a.details]
    assert not [r for r in caplog.records if CODE in r.getMessage()]
    logged = [r.getMessage() for r in caplog.records]
    for action in (devtools.CODE_FAILED, devtools.CODE_OK, "dev.purge", "dev.wipe"):
        assert any(m.startswith(f"developer {DEV_ID}: {action}") for m in logged), action
    outgoing = [json.dumps(c.params, ensure_ascii=False, default=str) for c in sender.calls]
    assert not [o for o in outgoing if CODE in o]


def developer_callbacks(harness) -> list[str]:
    """Every callback data the developer's menus offer (and a few typed by hand)."""
    found = {b["callback_data"] for b in harness.send(DEV_ID, "/dev").last(DEV_ID).buttons}
    found |= {b["callback_data"] for b in harness.press(DEV_ID, "dev:purge").last(DEV_ID).buttons}
    found |= {"dev:menu", "dev:purge:all", "dev:wipe", "dev:log:500", "dev:export:pdf"}
    harness.send(DEV_ID, "/cancel")
    return sorted(found)


@pytest.mark.parametrize("outsider", [USER_ID, ADMIN_ID])
def test_nobody_else_can_reach_developer_tools(harness, sender, config, fleet, outsider):
    with open(config.log_file, "w", encoding="utf-8") as handle:
        handle.write("secret log line\n")
    callbacks = developer_callbacks(harness)
    assert len(callbacks) >= 10
    # Reading any list first lets the queue settle the fixture's unoffered queue entry.
    harness.send(outsider, "/all")
    before = counts()
    sender.clear()
    for command in ("/dev", "/dev log 5", "/dev dump", "/dev@devtrack_test_bot"):
        assert harness.send(outsider, command).last(outsider).text == texts.NOT_FOUND.format(
            query=texts.e(command))
    for data in callbacks:
        harness.press(outsider, data)
    assert sender.alerts() == [texts.STALE_BUTTON] * len(callbacks)
    # Even in the code state (set by hand) an outsider's text is just a search.
    DialogState.insert(chat_id=outsider, state=CODE_STATE,
                       data=json.dumps({"action": "wipe"})).execute()
    assert harness.send(outsider, CODE).last(outsider).text == texts.NOT_FOUND.format(query=CODE)
    DialogState.delete().where(DialogState.chat_id == outsider).execute()
    assert not sender.of("sendDocument") and not sender.of("deleteMessage")
    assert counts() == before  # not even an audit row
    assert "secret log line" not in json.dumps([c.params for c in sender.calls],
                                               ensure_ascii=False)


def test_timestamps_of_the_lock_use_the_injected_clock(harness, clock, fleet, people):
    clock.advance(days=1)
    until = devtools.code_failed(DEV_ID, people[2], clock.now, "purge")
    assert until == (2, None)
    assert AuditLog.select().where(AuditLog.action == devtools.CODE_FAILED).get().created_at == \
        clock.now
    assert devtools.failures(DEV_ID, clock.now + timedelta(minutes=15)) == 0


def test_the_lock_is_per_developer(make_harness, sender, seed, fleet, people):
    other = 902
    seed.person(other, "dev2@company.ru")
    harness = make_harness(developer_ids=frozenset({DEV_ID, other}))
    ask_code(harness, "dev:wipe")
    for message_id in (1101, 1102, 1103):
        send_code(harness, "wrong", message_id)
    assert sender.last(DEV_ID).text == texts.DEV_CODE_LOCKED.format(until=LOCKED_UNTIL)
    assert harness.press(other, "dev:wipe").last(other).text.startswith("<b>Очистка базы</b>")
