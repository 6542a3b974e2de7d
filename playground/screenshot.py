"""`python -m playground.screenshot docs/playground.png`: the README's picture, made by Playwright.

Needs the dev requirements (playwright) and Debian's chromium; runs a fresh playground in a
temporary folder, so data/playground.db is never touched.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from handlers import texts
from playground.app import Playground

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def take(target: Path) -> None:
    """Open the employee's chat, look up a device, run the reminders, and save the picture."""
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        playground = Playground(data_dir=Path(folder), port=0).start(logs=False)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 860})
            page.goto(playground.url + "/?as=employee")
            page.click("#start-button")
            expect(page.locator(".msg.in").first).to_be_visible()
            page.fill("#composer-text", "Эвотор 7.3")
            page.press("#composer-text", "Enter")
            expect(page.locator(".msg.in .kb-btn", has_text=texts.BTN_RETURN)).to_be_visible()
            page.click("#run-reminders")
            expect(page.locator(".msg.in", has_text="Продлить")).to_be_visible()
            expect(page.locator("#toast")).to_be_visible()
            expect(page.locator("#toast")).to_be_hidden(timeout=10_000)
            target.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target))
        finally:
            browser.close()
            playground.stop()


if __name__ == "__main__":
    take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/playground.png"))
