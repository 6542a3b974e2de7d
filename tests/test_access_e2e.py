"""End to end, per REGISTRATION mode: the real bot process, a fake Bot API, a real SMTP server."""

from __future__ import annotations

import json

import pytest
from e2e import button_data, reply_to, running_bot, say
from smtpserver import SmtpServer

from handlers import texts
from models import AccessRequest, AuditLog, Person, init_db
from playground.botapi import FakeBotAPI

pytestmark = pytest.mark.slow
NEWCOMER = 4343
ADMIN_A, ADMIN_B = 7001, 7002


@pytest.fixture
def api(monkeypatch):
    """A running fake Bot API server."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeBotAPI() as server:
        yield server


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1."""
    server = SmtpServer().start()
    yield server
    server.stop()


def open_db(tmp_path):
    """The bot's SQLite file, connected."""
    database = init_db(f"sqlite:///{tmp_path / 'bot.db'}")
    database.connect(reuse_if_open=True)
    return database


def test_email_mode_with_a_real_mail_server(api, smtp, tmp_path):
    with running_bot(api, tmp_path, REGISTRATION="email", SMTP_URL=smtp.url,
                     SMTP_FROM="devtrack@company.ru", ADMIN_IDS=""):
        assert say(api, NEWCOMER, "/start").text.startswith(texts.ASK_EMAIL.split("\n")[0])
        assert say(api, NEWCOMER, "new@company.ru").text == texts.REG_ASK_CODE.format(
            email="new@company.ru")
        code = smtp.inbox.code_for("new@company.ru")
        wrong = "000000" if code != "000000" else "111111"
        assert say(api, NEWCOMER, wrong).text == texts.REG_CODE_WRONG.format(left=4)
        mark = api.mark()
        api.push_message(NEWCOMER, code)
        assert reply_to(api, mark, NEWCOMER).text == texts.REGISTERED.format(
            email="new@company.ru")
        assert say(api, NEWCOMER, "/mine").ok
    database = open_db(tmp_path)
    assert Person.get(Person.telegram_id == NEWCOMER).email == "new@company.ru"
    database.close()
    log = (tmp_path / "bot.log").read_text()
    assert code not in log


def test_approve_mode_with_two_admins_pressing_at_once(api, tmp_path):
    with running_bot(api, tmp_path, REGISTRATION="approve",
                     ADMIN_IDS=f"{ADMIN_A},{ADMIN_B}"):
        mark = api.mark()
        api.push_message(NEWCOMER, "new@company.ru", username="newbie")
        assert reply_to(api, mark, NEWCOMER).text == texts.REG_REQUEST_SENT
        copies = {admin: reply_to(api, mark, admin) for admin in (ADMIN_A, ADMIN_B)}
        assert all("@newbie" in c.text for c in copies.values())
        mark = api.mark()
        # Both admins press at the same moment: the per-chat executor runs them in parallel.
        api.push_callback(ADMIN_A, button_data(copies[ADMIN_A], texts.BTN_APPROVE),
                          message_id=copies[ADMIN_A].result["message_id"], first_name="Анна",
                          last_name=None)
        api.push_callback(ADMIN_B, button_data(copies[ADMIN_B], texts.BTN_REJECT),
                          message_id=copies[ADMIN_B].result["message_id"], first_name="Борис",
                          last_name=None)
        told = reply_to(api, mark, NEWCOMER)
        assert told.text in (texts.REG_APPROVED.format(email="new@company.ru"),
                             texts.REG_REJECTED)
        answers = [api.wait_for(lambda c, a=admin: c.method == "answerCallbackQuery"
                                and c.ok and c.params.get("callback_query_id", "").startswith(
                                    str(a)), since=mark, timeout=15)
                   for admin in (ADMIN_A, ADMIN_B)]
        alerts = [a.params.get("text", "") for a in answers]
        assert sum(t.startswith(texts.ACCESS_ALREADY.split("{")[0]) for t in alerts) == 1, alerts
        # Both copies end up naming the one admin who decided, without buttons.
        winner = "Анна" if told.text != texts.REG_REJECTED else "Борис"
        line = (texts.ACCESS_APPROVED_BY if winner == "Анна" else texts.ACCESS_REJECTED_BY
                ).format(admin=winner)
        for admin in (ADMIN_A, ADMIN_B):
            api.wait_for(lambda c, a=admin: c.method == "editMessageText" and c.chat_id == a
                         and c.ok and (c.text or "").endswith(line), since=mark, timeout=15)
            shown = api.message(admin, copies[admin].result["message_id"])
            assert shown["text"].endswith(line.replace("<b>", "").replace("</b>", ""))
            assert not shown.get("reply_markup", {}).get("inline_keyboard")
    database = open_db(tmp_path)
    request = AccessRequest.get()
    assert request.decided_by_name == winner
    assert Person.select().where(Person.telegram_id == NEWCOMER).count() == (
        1 if winner == "Анна" else 0)
    decided = [json.loads(a.details)["request"] for a in AuditLog.select().where(
        AuditLog.action.in_(("access.approved", "access.rejected")))]
    assert decided == [request.id]
    database.close()


def test_open_mode_registers_at_once(api, tmp_path):
    with running_bot(api, tmp_path, REGISTRATION="open"):
        mark = api.mark()
        api.push_message(NEWCOMER, "new@company.ru")
        assert reply_to(api, mark, NEWCOMER).text == texts.REGISTERED.format(
            email="new@company.ru")


def test_approve_without_admins_does_not_start(api, tmp_path):
    import subprocess
    import sys

    from e2e import ROOT, bot_env

    env = bot_env(api, tmp_path, REGISTRATION="approve", ADMIN_IDS="")
    result = subprocess.run([sys.executable, str(ROOT / "bot.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("devtrack: REGISTRATION:"), result.stderr
