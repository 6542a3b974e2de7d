"""/labels through real updates: every selection and layout, bad numbers, progress, non-admins."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest
from conftest import ADMIN_ID, USER_ID, message_update

from handlers import labels as labels_handler
from handlers import texts
from inventory import label_select, labels
from inventory.labels import LAYOUTS
from models import AuditLog, Device

BOT = "devtrack_test_bot"


@pytest.fixture
def world(seed):
    """An admin, a user, devices in two categories; 101 and 102 already labelled."""
    seed.person(ADMIN_ID, "admin@company.ru", name="Админ")
    seed.person(USER_ID, "ivan@company.ru", name="Иван", username=f"user{USER_ID}")
    for number in range(101, 106):
        seed.device(number, f"Эвотор {number}")
    for number in (145, 150):
        seed.device(number, f"Весы {number}", category="Весы")
    Device.update(labelled_at=seed.clock.now).where(Device.number.in_([101, 102])).execute()
    return seed


def documents(sender) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every document sent."""
    return [call.files["document"] for call in sender.of("sendDocument")]


def label_numbers(pdf_bytes: bytes) -> list[int]:
    """Device numbers printed on the labels (the first text line of each), in order."""
    pdf = pdfium.PdfDocument(pdf_bytes)
    numbers = []
    for page in pdf:
        text = page.get_textpage().get_text_range()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        numbers += [int(line) for line in lines if line.isdigit()]
    return numbers


def choose_layout(harness, key: str):
    """Press the layout button; returns the sent PDF."""
    harness.sender.clear()
    harness.press(ADMIN_ID, f"lbl:go:{key}")
    docs = documents(harness.sender)
    assert len(docs) == 1, harness.sender.texts()
    return docs[0]


def test_labels_menu_offers_every_selection(harness, world):
    last = harness.send(ADMIN_ID, "/labels").last(ADMIN_ID)
    assert last.text == texts.LABELS_CHOOSE
    assert last.button(texts.BTN_LABELS_ALL.format(count=7))["callback_data"] == "lbl:all"
    assert last.button("Весы (2)")["callback_data"].startswith("lbl:cat:")
    assert last.button("Онлайн-касса (5)")
    assert last.button(texts.BTN_LABELS_NUMBERS)["callback_data"] == "lbl:num"
    assert last.button(texts.BTN_LABELS_NEW.format(count=5))["callback_data"] == "lbl:new"


@pytest.mark.parametrize("key", list(LAYOUTS))
def test_all_devices_on_every_layout(harness, world, key):
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:all")
    ask = harness.sender.last(ADMIN_ID)
    assert ask.text == texts.LABELS_ASK_LAYOUT.format(what=texts.LABELS_WHAT_ALL,
                                                      devices=texts.devices_count(7))
    assert [b["callback_data"] for b in ask.buttons][:3] == [f"lbl:go:{k}" for k in LAYOUTS]
    name, pdf = choose_layout(harness, key)
    assert name.endswith(".pdf")
    assert label_numbers(pdf) == [101, 102, 103, 104, 105, 145, 150]
    assert len(pdfium.PdfDocument(pdf)) == -(-7 // LAYOUTS[key].per_page)
    caption = harness.sender.of("sendDocument")[0].params["caption"]
    assert caption == texts.LABELS_CAPTION.format(labels=texts.labels_count(7),
                                                  layout=labels_handler.LAYOUT_TITLES[key])
    assert Device.select().where(Device.labelled_at.is_null()).count() == 0


def test_a_category(harness, world):
    scales = next(c for c in label_select.categories() if c.name == "Весы")
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, f"lbl:cat:{scales.id}")
    assert harness.sender.last(ADMIN_ID).text == texts.LABELS_ASK_LAYOUT.format(
        what=texts.LABELS_WHAT_CATEGORY.format(name="Весы"), devices=texts.devices_count(2))
    _, pdf = choose_layout(harness, "a4x40")
    assert label_numbers(pdf) == [145, 150]
    # Only the printed devices are marked: the other category still waits for labels.
    unlabelled = [d.number for d in Device.select().where(Device.labelled_at.is_null())
                  .order_by(Device.number)]
    assert unlabelled == [103, 104, 105]


def test_without_labels_then_nothing_left(harness, world):
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:new")
    _, pdf = choose_layout(harness, "thermal")
    assert label_numbers(pdf) == [103, 104, 105, 145, 150]
    entry = AuditLog.select().where(AuditLog.action == "labels.printed").get()
    assert '"devices": 5' in entry.details and '"thermal"' in entry.details
    # Everything has a label now: the menu no longer offers «Без наклеек».
    menu = harness.send(ADMIN_ID, "/labels").last(ADMIN_ID)
    assert not [b for b in menu.buttons if b["callback_data"] == "lbl:new"]
    harness.press(ADMIN_ID, "lbl:new")  # an old menu's button
    assert harness.sender.last(ADMIN_ID).text == texts.LABELS_NOTHING.format(
        what=texts.LABELS_WHAT_NEW)


def test_typed_numbers(harness, world):
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:num")
    assert harness.sender.last(ADMIN_ID).text == texts.LABELS_ASK_NUMBERS
    harness.send(ADMIN_ID, "101-103, 145 ; 150")
    assert harness.sender.last(ADMIN_ID).text == texts.LABELS_ASK_LAYOUT.format(
        what=texts.LABELS_WHAT_NUMBERS.format(numbers="101–103, 145, 150"),
        devices=texts.devices_count(5))
    _, pdf = choose_layout(harness, "a4x24")
    assert label_numbers(pdf) == [101, 102, 103, 145, 150]


@pytest.mark.parametrize(("typed", "problem"), [
    ("130-101", texts.LABELS_REVERSED.format(text="130-101", fixed="101-130")),
    ("abc", texts.LABELS_NOT_A_NUMBER.format(text="abc")),
    ("999", texts.LABELS_MISSING.format(numbers="999")),
])
def test_bad_numbers_alone_ask_again(harness, world, typed, problem):
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:num")
    reply = harness.send(ADMIN_ID, typed).last(ADMIN_ID)
    assert reply.text == f"{problem}\n{texts.LABELS_RETYPE}"
    assert [b["callback_data"] for b in reply.buttons] == ["dlg:cancel"]
    # Still waiting for numbers: a corrected text goes on.
    harness.send(ADMIN_ID, "104")
    assert harness.sender.last(ADMIN_ID).text.startswith(texts.LABELS_ASK_LAYOUT.format(
        what=texts.LABELS_WHAT_NUMBERS.format(numbers="104"), devices=texts.devices_count(1)))


def test_bad_parts_are_named_and_the_valid_part_offered(harness, world):
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:num")
    reply = harness.send(ADMIN_ID, "130-101, abc, 103-107, 145, 999").last(ADMIN_ID)
    assert reply.text == "\n".join([
        texts.LABELS_REVERSED.format(text="130-101", fixed="101-130"),
        texts.LABELS_NOT_A_NUMBER.format(text="abc"),
        texts.LABELS_MISSING.format(numbers="106–107, 999"),
        texts.LABELS_VALID.format(numbers="103–105, 145", devices=texts.devices_count(4)),
        texts.LABELS_FIX_OR_GO,
    ])
    go = reply.button(texts.BTN_LABELS_CONTINUE.format(devices=texts.devices_count(4)))
    harness.press(ADMIN_ID, go["callback_data"])
    assert harness.sender.last(ADMIN_ID).text.startswith(texts.LABELS_ASK_LAYOUT.format(
        what=texts.LABELS_WHAT_NUMBERS.format(numbers="103–105, 145"),
        devices=texts.devices_count(4)))
    _, pdf = choose_layout(harness, "a4x24")
    assert label_numbers(pdf) == [103, 104, 105, 145]


def test_a_huge_range_is_refused_without_building_it(harness, world):
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:num")
    reply = harness.send(ADMIN_ID, "1-999999999, 101").last(ADMIN_ID)
    assert texts.LABELS_TOO_MANY.format(text="1-999999999",
                                        limit=label_select.MAX_NUMBERS) in reply.text
    assert reply.button(texts.BTN_LABELS_CONTINUE.format(devices=texts.devices_count(1)))


def test_an_html_like_typed_text_is_escaped(harness, world):
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:num")
    reply = harness.send(ADMIN_ID, "<b>").last(ADMIN_ID)
    assert reply.text.startswith(texts.LABELS_NOT_A_NUMBER.format(text="&lt;b&gt;"))


def test_layout_button_without_a_selection_is_stale(harness, world):
    harness.press(ADMIN_ID, "lbl:go:a4x24")
    assert harness.sender.alerts() == [texts.STALE_BUTTON]
    assert not harness.sender.of("sendDocument")
    harness.press(ADMIN_ID, "lbl:ok")  # «Продолжить» with no offer pending
    assert harness.sender.alerts()[-1] == texts.STALE_BUTTON


def test_cancel_leaves_nothing(harness, world):
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:all")
    harness.press(ADMIN_ID, "dlg:cancel")
    harness.press(ADMIN_ID, "lbl:go:a4x24")
    assert not harness.sender.of("sendDocument")
    assert Device.select().where(Device.labelled_at.is_null()).count() == 5


def test_no_devices(harness, seed):
    seed.person(ADMIN_ID, "admin@company.ru")
    assert harness.send(ADMIN_ID, "/labels").last(ADMIN_ID).text == texts.LABELS_NO_DEVICES


def test_large_job_shows_progress_and_splits_files(harness, world, monkeypatch):
    for number in range(1000, 1060):
        world.device(number, "Сканер", category="Сканер")
    monkeypatch.setattr(labels_handler, "PROGRESS_FROM", 20)
    monkeypatch.setattr(labels_handler, "PROGRESS_INTERVAL", 0)
    monkeypatch.setattr(labels_handler, "FILE_LIMIT", 40)
    monkeypatch.setattr(labels, "PROGRESS_EVERY", 20)
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:all")
    harness.sender.clear()
    harness.press(ADMIN_ID, "lbl:go:a4x40")
    texts_sent = harness.sender.texts(ADMIN_ID)
    assert texts_sent[0] == texts.LABELS_PROGRESS.format(done=0, total=67)
    assert texts.LABELS_PROGRESS.format(done=20, total=67) in texts_sent
    assert texts.LABELS_PROGRESS.format(done=60, total=67) in texts_sent  # second file: 40 + 20
    assert texts_sent[-1] == texts.LABELS_DONE.format(labels=texts.labels_count(67))
    edits = harness.sender.of("editMessageText", ADMIN_ID)
    assert len(edits) >= 3 and len({c.params["message_id"] for c in edits}) == 1  # one message
    docs = documents(harness.sender)
    assert [len(label_numbers(pdf)) for _, pdf in docs] == [40, 27]
    captions = [c.params["caption"] for c in harness.sender.of("sendDocument")]
    assert captions[1] == texts.LABELS_CAPTION_PART.format(
        part=2, parts=2, labels=texts.labels_count(27),
        layout=labels_handler.LAYOUT_TITLES["a4x40"])


def test_progress_edits_are_throttled(harness, world, monkeypatch):
    for number in range(1000, 1060):
        world.device(number, "Сканер", category="Сканер")
    monkeypatch.setattr(labels_handler, "PROGRESS_FROM", 20)
    monkeypatch.setattr(labels, "PROGRESS_EVERY", 10)
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:all")
    harness.sender.clear()
    harness.press(ADMIN_ID, "lbl:go:a4x24")  # renders well within PROGRESS_INTERVAL
    edits = [c.text for c in harness.sender.of("editMessageText", ADMIN_ID)]
    assert edits == [texts.LABELS_DONE.format(labels=texts.labels_count(67))]


def test_the_links_use_the_bot_username_from_get_me(harness, world):
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:all")
    choose_layout(harness, "thermal")
    assert harness.bot.user.username == BOT  # from the recorded getMe, not from configuration
    assert len(harness.sender.of("getMe")) <= 1


def test_get_me_failure_is_told_and_nothing_marked(harness, world):
    harness.bot._user = None
    harness.sender.fail("getMe", 502, "Bad Gateway", times=5)
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:all")
    harness.press(ADMIN_ID, "lbl:go:a4x24")
    assert harness.sender.last(ADMIN_ID).text == texts.LABELS_NO_USERNAME
    assert not harness.sender.of("sendDocument")
    assert Device.select().where(Device.labelled_at.is_null()).count() == 5


def test_a_refused_document_marks_nothing(harness, world):
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:new")
    harness.sender.fail("sendDocument", 400, "Bad Request: file is too big")
    harness.press(ADMIN_ID, "lbl:go:a4x24")
    assert harness.sender.last(ADMIN_ID).text == texts.LABELS_SEND_FAILED
    assert Device.select().where(Device.labelled_at.is_null()).count() == 5


@pytest.mark.parametrize("command", ["/labels", "/export"])
def test_non_admin_gets_a_failed_search(harness, world, command):
    harness.send(USER_ID, command)
    assert harness.sender.last(USER_ID).text == texts.NOT_FOUND.format(query=command)
    for data in ("lbl:all", "lbl:go:a4x24", "axp:f:xlsx", "axp:go:xlsx:30"):
        harness.press(USER_ID, data)
    assert harness.sender.alerts() == [texts.STALE_BUTTON] * 4
    assert not harness.sender.of("sendDocument")


def test_the_admin_menu_and_help_list_the_new_commands(harness, world):
    from bot import setup_commands

    setup_commands(harness.bot)
    admin_menu = [c for c in harness.sender.of("setMyCommands")
                  if f'"chat_id": {ADMIN_ID}' in str(c.params.get("scope"))]
    assert admin_menu and '"labels"' in admin_menu[0].params["commands"]
    assert '"export"' in admin_menu[0].params["commands"]
    assert "/labels" in harness.send(ADMIN_ID, "/help").last(ADMIN_ID).text


@pytest.mark.parametrize(("text", "numbers", "problems"), [
    ("101-103, 145 150;151", [101, 102, 103, 145, 150, 151], []),
    ("101 – 103", [101, 102, 103], []),  # an en dash with spaces
    ("5,5, 4-6", [4, 5, 6], []),
    ("130-101", [], [("reversed", "130-101")]),
    ("abc, 7", [7], [("not_a_number", "abc")]),
    ("², ١٢, -5, 3-", [], [("not_a_number", t) for t in ("²", "١٢", "-5", "3-")]),
    ("99999999999", [], [("not_a_number", "99999999999")]),
    ("1-30000", [], [("too_many", "1-30000")]),
    (" , ; ", [], []),
])
def test_parse_numbers(text, numbers, problems):
    parsed, found = label_select.parse_numbers(text)
    assert parsed == numbers
    assert [(p.kind, p.text) for p in found] == problems


def test_a_photo_instead_of_numbers_asks_again(harness, world):
    harness.send(ADMIN_ID, "/labels")
    harness.press(ADMIN_ID, "lbl:num")
    harness.update(message_update(ADMIN_ID, None, photo=[
        {"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]))
    assert harness.sender.last(ADMIN_ID).text == texts.LABELS_ASK_NUMBERS
    harness.send(ADMIN_ID, " , ")
    assert harness.sender.last(ADMIN_ID).text == "\n".join([
        texts.LABELS_NOT_A_NUMBER.format(text=","), texts.LABELS_RETYPE])
