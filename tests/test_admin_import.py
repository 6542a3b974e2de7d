"""/add by file: upload (getFile + download), preview, «Импортировать» / «Отмена», progress."""

from __future__ import annotations

import csv
import http.server
import io
import itertools
import threading

import openpyxl
import pytest
import requests
from conftest import ADMIN_ID, USER_ID, message_update
from telebot import apihelper

from handlers import admin_import, texts
from handlers.import_problems import file_error_text, problem_text
from inventory import importing
from models import AuditLog, Device, DialogState, Loan, Person

HEADER = ["Айди", "Название", "Категория", "Артикул", "Дата регистрации", "Прошивка",
          "Комментарий", "Электронная почта", "Место устройства", "Дата возврата"]
ROWS = [
    ["1", "Эвотор 7.2; белый", "Онлайн-касса", "EV-001", "01.02.2024", "4.5",
     "наклейка сбоку\nвторая строка", "Ivan@Company.ru", "Склад 3", "15.12.2026"],
    ["2", "Сканер Honeywell", "Сканер", "SC-002", "", "", "", "", "", ""],
    ["3", "Весы Штрих-М", "Весы", "W-003", "2023-12-31", "1.0", "", "new.hire@company.ru",
     "", ""],
]
_file_ids = itertools.count(1)


def csv_bytes(rows: list[list[str]], encoding: str = "cp1251", delimiter: str = ";") -> bytes:
    """A CSV as Excel saves it in a Russian locale."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[str]]) -> bytes:
    """An XLSX workbook with rows on its first sheet."""
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def world(seed):
    """An admin, a registered user and the categories the files use."""
    admin = seed.person(ADMIN_ID, "admin@company.ru", name="Админ")
    user = seed.person(USER_ID, "ivan@company.ru", name="Иван Петров")
    for name in ("Онлайн-касса", "Сканер", "Весы"):
        seed.category(name)
    return admin, user


@pytest.fixture
def downloads(monkeypatch, sender):
    """Serve uploaded files from sender.files (what getFile + the file URL would give)."""
    fetched: list[str] = []

    def fetch(token: str, file_path: str, limit: int) -> bytes:
        fetched.append(file_path)
        raw = sender.files[file_path]
        if len(raw) > limit:
            raise admin_import.FileTooBig(len(raw))
        return raw

    monkeypatch.setattr(admin_import, "fetch_file", fetch)
    return fetched


def upload(harness, user_id: int, raw: bytes, name: str, size: int | None = None):
    """Send raw as a document from user_id."""
    file_id = f"file{next(_file_ids)}"
    harness.sender.files[f"documents/{file_id}"] = raw
    document = {"file_id": file_id, "file_unique_id": file_id, "file_name": name,
                "file_size": len(raw) if size is None else size}
    return harness.update(message_update(user_id, None, document=document))


def counts() -> tuple[int, int, int, int]:
    return (Device.select().count(), Loan.select().count(), Person.select().count(),
            AuditLog.select().count())


def test_cp1251_semicolon_csv_preview_then_import(harness, world, downloads, sender, clock):
    admin, user = world
    call = upload(harness, ADMIN_ID, csv_bytes([HEADER, *ROWS]), "устройства.csv").last(ADMIN_ID)
    assert len(sender.of("getFile")) == 1 and len(downloads) == 1
    assert call.text == texts.IMPORT_PREVIEW.format(name="устройства.csv", new=3, updates=0,
                                                    loans=2, warnings="")
    assert call.button(texts.BTN_IMPORT)["callback_data"] == "imp:go"
    assert call.button(texts.BTN_CANCEL)["callback_data"] == "imp:no"
    assert Device.select().count() == 0  # nothing before «Импортировать»
    call = harness.press(ADMIN_ID, "imp:go").last(ADMIN_ID)
    assert call.text == texts.IMPORT_DONE.format(name="устройства.csv", created=3, updated=0,
                                                 unchanged=0, loans=2, people=1)
    device = Device.get(Device.number == 1)
    assert (device.name, device.comment) == ("Эвотор 7.2; белый", "наклейка сбоку\nвторая строка")
    assert Loan.get(Loan.device == device).person_id == user.id
    assert Person.get(Person.email == "new.hire@company.ru").telegram_id is None
    assert AuditLog.get(AuditLog.action == "import.applied").actor_id == admin.id
    assert DialogState.get(DialogState.chat_id == ADMIN_ID).state is None
    # A user then finds an imported device.
    assert harness.send(USER_ID, "honeywell").last(USER_ID).text.startswith(
        texts.CARD_TITLE.format(number=2, name="Сканер Honeywell"))


def test_xlsx_and_updates_of_existing_devices(harness, world, downloads, seed):
    seed.device(2, "Старое имя", serial="SC-002", category="Сканер")
    call = upload(harness, ADMIN_ID, xlsx_bytes([HEADER, *ROWS]), "devices.xlsx").last(ADMIN_ID)
    assert call.text == texts.IMPORT_PREVIEW.format(name="devices.xlsx", new=2, updates=1,
                                                    loans=2, warnings="")
    call = harness.press(ADMIN_ID, "imp:go").last(ADMIN_ID)
    assert call.text == texts.IMPORT_DONE.format(name="devices.xlsx", created=2, updated=1,
                                                 unchanged=0, loans=2, people=1)
    assert Device.get(Device.number == 2).name == "Сканер Honeywell"


def test_warnings_are_shown_in_the_preview(harness, world, downloads):
    rows = [[*HEADER, "Цвет"], [*ROWS[1], "белый"]]
    call = upload(harness, ADMIN_ID, csv_bytes(rows), "d.csv").last(ADMIN_ID)
    assert texts.IMPORT_WARNING.format(text="Неизвестный столбец «Цвет» пропущен") in call.text
    assert call.button(texts.BTN_IMPORT)


def test_a_file_with_errors_lists_every_error_and_writes_nothing(harness, world, downloads,
                                                                  seed):
    seed.device(49, "Эвотор 7.2", serial="ZN-49")
    rows = [HEADER,
            ["1", "Годный", "Сканер", "OK-1", "", "", "", "", "", ""],
            ["49", "Дубль", "Сканер", "NEW", "", "", "", "", "", ""],
            ["1", "Повтор", "Сканер", "OK-2", "", "", "", "", "", ""],
            ["", "", "Сканер", "OK-3", "", "", "", "", "", ""],
            ["5", "Дата", "Сканер", "OK-5", "32.01.2024", "", "", "", "", ""],
            ["6", "Категория", "Пылесос", "OK-6", "", "", "", "", "", ""],
            ["7", "Серийный", "Сканер", "zn-49", "", "", "", "", "", ""]]
    before = counts()
    call = upload(harness, ADMIN_ID, csv_bytes(rows), "bad.csv").last(ADMIN_ID)
    assert call.text.startswith("<b>Файл «bad.csv» не импортирован</b>")
    plan = importing.plan_file(csv_bytes(rows), "bad.csv",
                               admin_import.existing_data(), harness.clock().date())
    for error in plan.errors:
        assert texts.e(problem_text(error)) in call.text
    assert {error.row for error in plan.errors} == {4, 5, 6, 7, 8}
    assert "Строка 4: номер 1 уже встречался в строке 2" in call.text
    assert call.buttons == []  # nothing can be imported
    assert counts() == before
    assert DialogState.get_or_none(DialogState.chat_id == ADMIN_ID) is None
    harness.press(ADMIN_ID, "imp:go")
    assert harness.sender.alerts()[-1] == texts.IMPORT_STALE
    assert counts() == before


def test_holder_email_outside_allowed_domains_is_an_error(make_harness, world, downloads):
    harness = make_harness(email_domains=("company.ru",))
    rows = [HEADER,
            ["1", "Годный", "Сканер", "OK-1", "", "", "", "olga@company.ru", "", ""],
            ["2", "Чужой", "Сканер", "OK-2", "", "", "", "olga@gmail.com", "", ""]]
    before = counts()
    call = upload(harness, ADMIN_ID, csv_bytes(rows), "domains.csv").last(ADMIN_ID)
    assert "Строка 3: адрес «olga@gmail.com» не на разрешённом домене (@company.ru)" in call.text
    assert call.buttons == [] and counts() == before


def test_too_many_errors_for_one_message_go_into_a_file(harness, world, downloads, sender):
    rows = [HEADER] + [[str(n), f"Устройство {n}", "Пылесос", f"S-{n}", "", "", "", "", "", ""]
                       for n in range(1, 301)]
    call = upload(harness, ADMIN_ID, csv_bytes(rows), "big.csv").last(ADMIN_ID)
    assert len(call.text) < 4096
    assert "…и ещё" in call.text
    document = sender.of("sendDocument")[-1]
    report = next(iter(document.files.values()))
    content = report[1].read() if isinstance(report, tuple) else report.read()
    assert content.decode("utf-8").count("неизвестная категория «Пылесос»") == 300


@pytest.mark.parametrize(("raw", "name", "message"), [
    (b"", "empty.csv", texts.IMPORT_FILE_EMPTY),
    (b"\r\n\r\n", "blank.csv", texts.IMPORT_FILE_EMPTY),
    (";".join(HEADER).encode("cp1251") + b"\r\n", "header.csv", texts.IMPORT_FILE_HEADER_ONLY),
    (bytes(range(256)) * 20, "garbage.csv",
     texts.IMPORT_FILE_BINARY.format(formats=texts.IMPORT_FORMATS)),
    (b"1;2;3", "devices.pdf",
     texts.IMPORT_FILE_EXTENSION.format(extension=".pdf", formats=texts.IMPORT_FORMATS)),
    (b"PK\x03\x04garbage", "broken.xlsx", None),
])
def test_malformed_files_get_their_own_clear_message(harness, world, downloads, raw, name,
                                                     message):
    before = counts()
    call = upload(harness, ADMIN_ID, raw, name).last(ADMIN_ID)
    with pytest.raises(importing.ImportFileError) as refused:
        importing.read_table(raw, name)
    if message is not None:
        assert file_error_text(refused.value) == message
    assert call.text == texts.IMPORT_FILE_ERROR.format(
        name=name, reason=texts.e(file_error_text(refused.value)))
    assert call.buttons == [] and counts() == before


def test_too_many_rows(harness, world, downloads, monkeypatch):
    monkeypatch.setattr(importing, "MAX_ROWS", 2)
    call = upload(harness, ADMIN_ID, csv_bytes([HEADER, *ROWS]), "d.csv").last(ADMIN_ID)
    assert "больше 2 строк" in call.text and call.buttons == []


def test_too_big_is_refused_before_downloading(harness, world, downloads, sender):
    call = upload(harness, ADMIN_ID, b"x", "huge.csv", size=6 * 1024 * 1024).last(ADMIN_ID)
    assert call.text == texts.IMPORT_TOO_BIG.format(size="6,0", limit="5,0")
    assert sender.of("getFile") == [] and downloads == []


def test_too_big_found_while_downloading(harness, world, downloads, monkeypatch):
    monkeypatch.setattr(importing, "MAX_BYTES", 10)
    call = upload(harness, ADMIN_ID, b"x" * 20, "d.csv", size=0).last(ADMIN_ID)
    assert call.text == texts.IMPORT_TOO_BIG.format(size="0,0", limit="0,0")


def test_download_failures(harness, world, sender, monkeypatch):
    def broken(token: str, file_path: str, limit: int) -> bytes:
        raise requests.ConnectionError("http://x/file/bot123:SECRET/documents/f")

    monkeypatch.setattr(admin_import, "fetch_file", broken)
    call = upload(harness, ADMIN_ID, b"1", "d.csv").last(ADMIN_ID)
    assert call.text == texts.IMPORT_DOWNLOAD_FAILED
    sender.fail("getFile", 400, "Bad Request: file is too big")
    call = upload(harness, ADMIN_ID, b"1", "d.csv").last(ADMIN_ID)
    assert call.text == texts.IMPORT_DOWNLOAD_FAILED


def test_cancel_drops_the_pending_file(harness, world, downloads):
    upload(harness, ADMIN_ID, csv_bytes([HEADER, *ROWS]), "d.csv")
    call = harness.press(ADMIN_ID, "imp:no").last(ADMIN_ID)
    assert call.text == texts.CANCELLED and call.buttons == []
    harness.press(ADMIN_ID, "imp:go")
    assert harness.sender.alerts()[-1] == texts.IMPORT_STALE
    assert Device.select().count() == 0


def test_cancel_command_drops_it_too(harness, world, downloads):
    upload(harness, ADMIN_ID, csv_bytes([HEADER, *ROWS]), "d.csv")
    assert harness.send(ADMIN_ID, "/cancel").last(ADMIN_ID).text == texts.CANCELLED
    harness.press(ADMIN_ID, "imp:go")
    assert Device.select().count() == 0


def test_a_restart_between_preview_and_confirm(make_harness, world, downloads):
    upload(make_harness(), ADMIN_ID, csv_bytes([HEADER, *ROWS]), "d.csv")
    call = make_harness().press(ADMIN_ID, "imp:go").last(ADMIN_ID)
    assert call.text.startswith("<b>Импорт «d.csv» завершён</b>")
    assert Device.select().count() == 3


def test_database_changed_after_the_preview(harness, world, downloads, seed):
    upload(harness, ADMIN_ID, csv_bytes([HEADER, *ROWS]), "d.csv")
    # A new row became an update: the admin sees the new counts and confirms again.
    seed.device(2, "Успели раньше", serial="SC-002", category="Сканер")
    call = harness.press(ADMIN_ID, "imp:go").last(ADMIN_ID)
    assert call.text == texts.IMPORT_CHANGED + "\n\n" + texts.IMPORT_PREVIEW.format(
        name="d.csv", new=2, updates=1, loans=2, warnings="")
    assert Device.select().count() == 1
    # Now one row conflicts: nothing can be imported.
    seed.device(3, "Чужие весы", serial="OTHER-3", category="Весы")
    seed.device(4, "Дубль серийного", serial="W-003", category="Весы")
    before = counts()
    call = harness.press(ADMIN_ID, "imp:go").last(ADMIN_ID)
    assert call.text.startswith(texts.IMPORT_CHANGED)
    assert "уже есть у устройства № 4" in call.text and call.buttons == []
    assert counts() == before


def test_large_files_show_progress_in_one_status_message(harness, world, downloads,
                                                         monkeypatch, sender):
    monkeypatch.setattr(admin_import, "PROGRESS_BYTES", 0)
    monkeypatch.setattr(admin_import, "PROGRESS_ROWS", 1)
    monkeypatch.setattr(admin_import, "PROGRESS_INTERVAL", 0)
    upload(harness, ADMIN_ID, csv_bytes([HEADER, *ROWS]), "d.csv")
    sent = sender.of("sendMessage", ADMIN_ID)
    assert [c.text for c in sent] == [texts.IMPORT_READING.format(name="d.csv")]
    edits = sender.of("editMessageText", ADMIN_ID)
    status_id = edits[0].params["message_id"]
    assert all(c.params["message_id"] == status_id for c in edits)
    assert edits[0].text == texts.IMPORT_CHECKING.format(name="d.csv", rows=3)
    assert edits[-1].button(texts.BTN_IMPORT)
    sender.clear()
    harness.press(ADMIN_ID, "imp:go", message_id=int(status_id))
    edits = sender.of("editMessageText", ADMIN_ID)
    assert edits[0].text == texts.IMPORT_CHECKING.format(name="d.csv", rows=3)
    assert texts.IMPORT_APPLYING.format(name="d.csv", done=0, total=3) in [c.text for c in edits]
    assert edits[-1].text.startswith("<b>Импорт «d.csv» завершён</b>")
    assert not sender.of("sendMessage", ADMIN_ID)
    assert Device.select().count() == 3


def test_non_admin_document_is_just_unsupported(harness, world, downloads, sender):
    call = upload(harness, USER_ID, csv_bytes([HEADER, *ROWS]), "d.csv").last(USER_ID)
    assert call.text == texts.UNSUPPORTED_MESSAGE
    assert sender.of("getFile") == [] and downloads == []
    assert Device.select().count() == 0


# --- the real download function --------------------------------------------------------------


class FileServer(http.server.BaseHTTPRequestHandler):
    """Serves /file/bot<token>/<path> with a fixed body."""

    body = b""
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        FileServer.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def file_server(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FileServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(apihelper, "FILE_URL",
                        f"http://127.0.0.1:{server.server_port}/file/bot{{0}}/{{1}}")
    yield FileServer
    server.shutdown()
    server.server_close()


def test_fetch_file_downloads_with_a_size_cap(file_server):
    file_server.body = b"abc" * 1000
    assert admin_import.fetch_file("123:TOKEN", "documents/f.csv", 10_000) == file_server.body
    assert file_server.seen[-1] == "/file/bot123:TOKEN/documents/f.csv"
    with pytest.raises(admin_import.FileTooBig):
        admin_import.fetch_file("123:TOKEN", "documents/f.csv", 100)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1251", "koi8-r", "cp866"])
@pytest.mark.parametrize("delimiter", [",", ";"])
def test_every_encoding_and_delimiter_imports_the_same_devices(harness, world, downloads,
                                                               encoding, delimiter):
    raw = csv_bytes([HEADER, *ROWS], encoding=encoding, delimiter=delimiter) + b"\r\n\r\n"
    call = upload(harness, ADMIN_ID, raw, "d.csv").last(ADMIN_ID)
    assert call.text == texts.IMPORT_PREVIEW.format(name="d.csv", new=3, updates=0, loans=2,
                                                    warnings="")
    harness.press(ADMIN_ID, "imp:go")
    assert [(d.number, d.name, d.comment) for d in Device.select().order_by(Device.number)] == [
        (int(row[0]), row[1], row[6]) for row in ROWS]
