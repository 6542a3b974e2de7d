"""The playground in a real browser: `python -m playground` driven by Playwright on Chromium.

Chromium comes from Debian (`make test` installs it); `--require-browser` (CI) turns a missing
browser or Playwright into a failure instead of a skip.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from handlers import texts
from playground.identities import DEVELOPER_CODE
from playground.telegram_rules import visible_text

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WAIT_MS = 20_000
CSV = (
    "Айди,Название,Категория,Артикул,Дата регистрации,Прошивка,Комментарий,"
    "Электронная почта,Место устройства,Дата возврата\n"
    "51,Эвотор 7.2 из импорта,Онлайн-касса,0030729999001,01.12.2026,4.9.11,,,,\n"
)


def seen(template: str, **values: object) -> str:
    """What a person reads for a template: its HTML rendered to visible text."""
    return visible_text(template.format(**values), "HTML")


@pytest.fixture
def chromium(request: pytest.FixtureRequest) -> Iterator[object]:
    """Debian's Chromium under Playwright; skipped locally without it, failed in CI."""
    required = request.config.getoption("--require-browser")
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed (make test installs it)"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium; make test does it as root)"
    if missing is not None:
        if required:
            pytest.fail(f"--require-browser: {missing}")
        pytest.skip(missing)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def playground(tmp_path: Path) -> Iterator[str]:
    """`python -m playground` on a free port with its own data dir; yields the page address."""
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
           "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "playground", "--port", "0", "--data-dir", str(tmp_path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    found = threading.Event()
    lines: list[str] = []
    address: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            match = re.search(r"Open (http://127\.0\.0\.1:\d+)", line)
            if match and not address:
                address.append(match[1])
                found.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not found.wait(60):
            raise AssertionError("the playground printed no address:\n" + "".join(lines))
        yield address[0]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(30) == 0, "".join(lines)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise


def test_newcomer_takes_a_device_admin_imports_developer_exports_reminders_go_out(
        chromium, playground, tmp_path):
    from playwright.sync_api import expect

    page = chromium.new_page(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(playground + "/?as=newcomer")
    expect(page.locator(".playground-tag")).to_have_text("PLAYGROUND")
    chat = page.locator("#messages")

    def say(text: str) -> None:
        page.fill("#composer-text", text)
        page.press("#composer-text", "Enter")

    def bot_says(text: str):
        message = page.locator(".msg.in", has_text=text).last
        expect(message).to_be_visible()
        return message

    def press(label: str) -> None:
        page.locator(".kb-btn", has_text=label).last.click()

    # A newcomer registers (by email, or at once when REGISTRATION=open lets them in).
    page.click("#start-button")
    first_reply = chat.locator(".msg.in").first
    expect(first_reply).to_be_visible()
    if seen(texts.ASK_EMAIL).split("\n")[0] in first_reply.inner_text():
        say("oleg.novikov@example.com")
        bot_says(seen(texts.REGISTERED, email="oleg.novikov@example.com"))

    # Finds a free device by name and takes it with the buttons.
    say("Sigma 10")
    card_id = bot_says("АТОЛ Sigma 10").get_attribute("data-message-id")
    card = chat.locator(f'.msg[data-message-id="{card_id}"]')
    card.locator(".kb-btn", has_text=texts.BTN_TAKE).click()
    bot_says(seen(texts.ASK_PLACE, number=14, name="АТОЛ Sigma 10").split("\n")[0])
    press(texts.BTN_SKIP)
    press(texts.BTN_WEEK)
    bot_says(seen(texts.TAKEN, number=14, name="АТОЛ Sigma 10"))
    # The card's old «Взять» now answers with an alert, as Telegram shows show_alert answers.
    card.locator(".kb-btn", has_text=texts.BTN_TAKE).click()
    expect(page.locator("#alert-text")).to_have_text(texts.ALREADY_YOURS)
    page.click("#alert-ok")
    expect(page.locator("#alert")).to_be_hidden()

    # A deep link in the page address opens the device card in this chat.
    page.goto(playground + "/?start=49")
    bot_says("АТОЛ SB2109 BT")
    expect(page).to_have_url(re.compile(r"/$"))  # the link is not replayed on reload
    # So does a t.me link to the bot (a sticker's QR code), without leaving the page.
    cards_before = page.locator(".msg.in", has_text="АТОЛ SB2109 BT").count()
    page.click("#deep-link-example")
    expect(page.locator(".msg.in", has_text="АТОЛ SB2109 BT")).to_have_count(cards_before + 1)
    assert page.url.startswith(playground)

    # The admin imports a CSV file by upload: a preview, then «Импортировать».
    page.click("[data-identity=admin]")
    page.click("#start-button")
    page.locator("#menu-button").click()
    expect(page.locator(".command", has_text="/add")).to_be_visible()
    page.locator("#menu-button").click()
    upload = tmp_path / "devices.csv"
    upload.write_text(CSV, encoding="utf-8")
    page.set_input_files("#file-input", str(upload))
    expect(chat.locator(".msg.out .document-name", has_text="devices.csv")).to_be_visible()
    bot_says(seen(texts.IMPORT_PREVIEW, name="devices.csv", new=1, updates=0, loans=0,
                  warnings="").split("\n")[0])
    press(texts.BTN_IMPORT)
    bot_says(seen(texts.IMPORT_DONE, name="devices.csv", created=1, updated=0, unchanged=0,
                  loans=0, people=0).split("\n")[0])
    say("из импорта")
    bot_says("Эвотор 7.2 из импорта")

    # The developer downloads the devices export.
    page.click("[data-identity=developer]")
    expect(page.locator("#identity-note")).to_contain_text(DEVELOPER_CODE)
    page.click("#start-button")
    say("/dev")
    bot_says(seen(texts.DEV_MENU).split("\n")[0])
    press(texts.BTN_DEV_EXPORT_CSV)
    document = chat.locator(".msg.in .document").last
    expect(document).to_be_visible()
    with page.expect_download() as download:
        document.click()
    exported = Path(download.value.path()).read_bytes().decode("utf-8-sig")
    assert "Эвотор 7.2 из импорта" in exported
    assert "АТОЛ Sigma 10" in exported and "oleg.novikov@example.com" in exported

    # «Run today's reminders»: the overdue employee and the admin digest appear in their chats.
    page.click("#run-reminders")
    expect(page.locator("#toast")).to_contain_text("sent")
    expect(page.locator("[data-identity=employee] .badge")).to_be_visible()
    page.click("[data-identity=employee]")
    reminder = bot_says(seen(texts.REMIND_FOOTER))
    expect(reminder).to_contain_text("№11")
    page.click("[data-identity=admin]")
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()
    bot_says(seen(texts.DIGEST_TITLE, count=1, date=texts.fmt_date(today)))
    assert errors == [], errors
