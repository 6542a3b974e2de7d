"""End to end: the real bot process makes a label PDF whose QR codes carry getMe's username."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest
from e2e import press, reply_to, running_bot
from test_labels_pdf import cell_box, decode_cell

from handlers import texts
from inventory.devices import search_text_for
from inventory.labels import LAYOUTS
from models import Category, Device, Person, init_db
from playground.botapi import BOT_USERNAME, FakeBotAPI
from schema import apply_migrations

pytestmark = pytest.mark.slow
ADMIN = 777


@pytest.fixture
def api(monkeypatch):
    """A running fake Bot API server."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeBotAPI() as server:
        yield server


def test_admin_gets_labels_that_open_the_cards(api, tmp_path):
    database = init_db(f"sqlite:///{tmp_path / 'bot.db'}")
    apply_migrations(database)
    Person.create(telegram_id=ADMIN, email="admin@company.ru", name="Админ")
    scales = Category.create(name="Весы")
    for number, name in ((101, "Весы «Штрих-Принт»"), (102, "Весы CAS")):
        Device.create(number=number, name=name, serial=f"S{number}", category=scales,
                      search_text=search_text_for(name, f"S{number}"))
    database.close()
    with running_bot(api, tmp_path, ADMIN_IDS=str(ADMIN)):
        mark = api.mark()
        api.push_message(ADMIN, "/labels")
        menu = reply_to(api, mark, chat_id=ADMIN)
        assert menu.text == texts.LABELS_CHOOSE
        ask = press(api, ADMIN, menu, texts.BTN_LABELS_ALL.format(count=2),
                    expect="editMessageText")
        document = press(api, ADMIN, ask, texts.BTN_LAYOUT_A4X24, expect="sendDocument")
    _, pdf_bytes = document.files["document"]
    page = pdfium.PdfDocument(pdf_bytes)[0]
    image = page.render(scale=4).to_numpy()
    height = page.get_size()[1]
    links = [decode_cell(image, cell_box(LAYOUTS["a4x24"], i), height) for i in range(2)]
    assert links == [f"https://t.me/{BOT_USERNAME}?start={n}" for n in (101, 102)]
