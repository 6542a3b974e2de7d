"""Identity and access: email codes, admin approval, open mode, admin rights, deleted people."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from conftest import ADMIN_ID, USER_ID, dialog_state, message_update
from smtpserver import SmtpServer, free_port

from handlers import texts
from inventory import access
from inventory.clock import local_time
from inventory.errors import AlreadyDecided, CodeExpired
from models import AccessRequest, AuditLog, Person, RegistrationCode, db

STRANGER = 555
ADMIN2 = 903
IVAN = "ivan@company.ru"


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1 that keeps what it receives."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def email_bot(make_harness, smtp):
    """REGISTRATION=email, codes mailed to the local server."""
    return make_harness(registration="email", smtp=smtp.settings())


@pytest.fixture
def approve_bot(make_harness):
    """REGISTRATION=approve with two bootstrap admins."""
    return make_harness(registration="approve", admin_ids=frozenset({ADMIN_ID, ADMIN2}))


@pytest.fixture
def imported_ivan(seed):
    """Ivan known only from an import (no Telegram id) and holding device №5."""
    ivan = seed.person(None, IVAN, name="Иван Петров")
    seed.loan(seed.device(5, "Эвотор 7.2"), ivan)
    return ivan


def until_text(bot, moment) -> str:
    """REG_LOCKED for a naive-UTC moment."""
    return texts.REG_LOCKED.format(until=texts.fmt_time(local_time(moment, bot.bot.config)))


# --- email mode --------------------------------------------------------------------------------


def test_email_mode_end_to_end(email_bot, smtp, seed):
    seed.device(7, "Весы Штрих")
    email_bot.send(USER_ID, "/start 7")
    sent = email_bot.send(USER_ID, "New.Person@Company.ru")
    assert sent.last(USER_ID).text == texts.REG_ASK_CODE.format(email="new.person@company.ru")
    assert Person.select().count() == 0
    code = smtp.inbox.code_for("new.person@company.ru")
    mail = smtp.inbox.to("new.person@company.ru")[-1]
    assert mail["From"] == "devtrack@company.ru" and mail["Subject"] == texts.MAIL_SUBJECT
    # Only a salted hash is stored.
    row = RegistrationCode.get()
    assert code not in json.dumps(list(RegistrationCode.select().dicts()), default=str)
    assert len(row.code_hash) == 64 and row.expires_at == email_bot.clock.now + timedelta(
        minutes=15)
    sent = email_bot.send(USER_ID, code[:3] + " " + code[3:])
    assert texts.REGISTERED.format(email="new.person@company.ru") in sent.texts(USER_ID)
    assert Person.get(Person.telegram_id == USER_ID).email == "new.person@company.ru"
    assert "Весы Штрих" in sent.last(USER_ID).text  # the deep link opens after registration
    assert RegistrationCode.get().used_at is not None


def test_a_code_is_single_use(email_bot, smtp, conn):
    issued = access.issue_code(USER_ID, "a@company.ru", now=email_bot.clock.now)
    assert access.check_code(USER_ID, issued.code, now=email_bot.clock.now) == "a@company.ru"
    with pytest.raises(CodeExpired):
        access.check_code(USER_ID, issued.code, now=email_bot.clock.now)


def test_code_expires_after_15_minutes(email_bot, smtp):
    email_bot.send(USER_ID, "a@company.ru")
    code = smtp.inbox.code_for("a@company.ru")
    email_bot.clock.advance(minutes=15)
    assert email_bot.send(USER_ID, code).last(USER_ID).text == texts.REG_CODE_EXPIRED
    assert Person.select().count() == 0
    email_bot.send(USER_ID, "a@company.ru")  # a new code works
    email_bot.send(USER_ID, smtp.inbox.code_for("a@company.ru"))
    assert Person.get().telegram_id == USER_ID


def test_five_wrong_codes_lock_the_chat_for_an_hour(email_bot, make_harness, smtp):
    email_bot.send(USER_ID, "a@company.ru")
    code = smtp.inbox.code_for("a@company.ru")
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        assert email_bot.send(USER_ID, wrong).last(USER_ID).text == texts.REG_CODE_WRONG.format(
            left=left)
    locked_at = email_bot.clock.now
    assert email_bot.send(USER_ID, wrong).last(USER_ID).text == until_text(
        email_bot, locked_at + timedelta(hours=1))
    # The right code no longer helps, and no new code is sent while locked.
    email_bot.send(USER_ID, "a@company.ru")
    assert email_bot.sender.last(USER_ID).text == until_text(
        email_bot, locked_at + timedelta(hours=1))
    assert len(smtp.inbox.to("a@company.ru")) == 1
    # The lock lives in the database: a restarted bot keeps it.
    restarted = make_harness(registration="email", smtp=smtp.settings())
    restarted.clock.advance(minutes=59)
    restarted.send(USER_ID, "a@company.ru")
    assert len(smtp.inbox.to("a@company.ru")) == 1
    assert Person.select().count() == 0
    email_bot.clock.advance(minutes=2)
    email_bot.send(USER_ID, "a@company.ru")
    email_bot.send(USER_ID, smtp.inbox.code_for("a@company.ru"))
    assert Person.get().telegram_id == USER_ID
    # The lock is per chat: another chat was never affected.
    assert access.locked_until(USER_ID + 1, email_bot.clock.now) is None


def test_three_codes_per_hour_then_locked(email_bot, smtp):
    for n in range(3):
        email_bot.send(USER_ID, f"a{n}@company.ru")
        assert email_bot.sender.last(USER_ID).text == texts.REG_ASK_CODE.format(
            email=f"a{n}@company.ru")
    email_bot.send(USER_ID, "a3@company.ru")
    assert email_bot.sender.last(USER_ID).text == until_text(
        email_bot, email_bot.clock.now + timedelta(hours=1))
    assert len(smtp.inbox.messages) == 3
    # Only the newest code counts: an older one is void.
    email_bot.clock.advance(hours=1, minutes=1)
    assert access.locked_until(USER_ID, email_bot.clock.now) is None


def test_enumeration_reply_is_identical_and_mail_goes_only_where_allowed(email_bot, smtp, seed,
                                                                         imported_ivan):
    seed.person(777, "taken@company.ru")
    gone = seed.person(778, "gone@company.ru")
    Person.update(deleted_at=email_bot.clock.now).where(Person.id == gone.id).execute()
    replies = {}
    for chat, address in ((601, "nobody@company.ru"), (602, IVAN), (603, "taken@company.ru"),
                          (604, "gone@company.ru")):
        email_bot.sender.clear()
        email_bot.send(chat, address)
        replies[address] = [c.text.replace(address, "<email>")
                            for c in email_bot.sender.calls]
    assert len({json.dumps(r) for r in replies.values()}) == 1, replies
    assert replies[IVAN] == [texts.REG_ASK_CODE.format(email="<email>")]
    delivered = {rcpt[0] for rcpt, _ in smtp.inbox.messages}
    assert delivered == {"nobody@company.ru", IVAN}


def test_stranger_cannot_become_an_imported_person_in_email_mode(email_bot, smtp,
                                                                 imported_ivan):
    email_bot.send(STRANGER, IVAN)
    # The code went to Ivan's mailbox, which the stranger cannot read; guessing locks them out.
    assert len(smtp.inbox.to(IVAN)) == 1
    real = smtp.inbox.code_for(IVAN)
    guesses = [f"{n:06d}" for n in range(10) if f"{n:06d}" != real][:5]
    for guess in guesses:
        email_bot.send(STRANGER, guess)
    assert email_bot.sender.last(STRANGER).text.startswith(texts.REG_LOCKED.split("{")[0])
    email_bot.send(STRANGER, real)  # even the right code is refused now
    ivan = Person.get(Person.email == IVAN)
    assert ivan.telegram_id is None
    sent = email_bot.send(STRANGER, "/mine")
    assert "Эвотор" not in " ".join(sent.texts(STRANGER))


def test_mail_failure_is_told_and_registration_goes_on(make_harness, smtp, caplog):
    down = make_harness(registration="email", smtp=replace(smtp.settings(), port=free_port()))
    with caplog.at_level(logging.INFO):
        sent = down.send(USER_ID, "a@company.ru")
    assert sent.last(USER_ID).text == texts.REG_MAIL_FAILED
    assert RegistrationCode.select().count() == 0  # not counted towards the hourly limit
    assert dialog_state(USER_ID) == "register:email"
    assert "mail to a@company.ru" in caplog.text
    # The mail server is back: the same chat goes on without any reset.
    email_bot = make_harness(registration="email", smtp=smtp.settings())
    email_bot.send(USER_ID, "a@company.ru")
    email_bot.send(USER_ID, smtp.inbox.code_for("a@company.ru"))
    assert Person.get().telegram_id == USER_ID


def test_codes_and_passwords_never_reach_the_log(make_harness, smtp, caplog):
    bot = make_harness(registration="email", smtp=smtp.settings())
    with caplog.at_level(logging.DEBUG):
        bot.send(USER_ID, "a@company.ru")
        code = smtp.inbox.code_for("a@company.ru")
        bot.send(USER_ID, code)
    assert Person.get().telegram_id == USER_ID
    assert code not in caplog.text


def test_until_registered_nothing_of_the_inventory_shows(email_bot, smtp, seed):
    seed.device(5, "Эвотор 7.2", serial="SN-SECRET")
    for text in ("/all", "/mine", "/categories", "Эвотор", "5", "/start 5", "/wishlist"):
        sent = email_bot.send(USER_ID, text)
        assert "SN-SECRET" not in sent.last(USER_ID).text, text
        assert "Эвотор 7.2" not in sent.last(USER_ID).text, text
    email_bot.sender.clear()
    email_bot.press(USER_ID, "card:1")
    assert email_bot.sender.alerts() == [texts.NEED_REGISTRATION]
    assert "SN-SECRET" not in " ".join(email_bot.sender.texts())


def test_stray_developer_code_while_registering_is_deleted_and_counted(email_bot):
    sent = email_bot.send(USER_ID, "s3cret-code", message_id=9001)
    assert [int(c.params["message_id"]) for c in sent.of("deleteMessage")] == [9001]
    assert "s3cret-code" not in json.dumps([c.params for c in sent.calls])
    assert sent.last(USER_ID).text.startswith(texts.ASK_EMAIL.split("\n")[0])
    from inventory import devtools

    assert devtools.failures(USER_ID, email_bot.clock.now) == 1


# --- approve mode ------------------------------------------------------------------------------


def request_copies(bot, admin_id):
    """The request messages an admin got."""
    return [c for c in bot.sender.of("sendMessage", admin_id)
            if c.text.startswith("<b>Запрос на доступ")]


def test_approve_mode_end_to_end(approve_bot, seed):
    seed.person(ADMIN_ID, "admin@company.ru", name="Анна Админ")
    approve_bot.send(USER_ID, "/start")
    sent = approve_bot.send(USER_ID, "new@company.ru", username="newbie")
    assert sent.last(USER_ID).text == texts.REG_REQUEST_SENT
    copies = {admin: request_copies(approve_bot, admin) for admin in (ADMIN_ID, ADMIN2)}
    for admin, found in copies.items():
        assert len(found) == 1, admin
        assert "Иван Петров" in found[0].text and "@newbie" in found[0].text
        assert "new@company.ru" in found[0].text
        assert texts.ACCESS_KNOWN.split("{")[0] not in found[0].text
        assert [b["text"] for b in found[0].buttons] == [texts.BTN_APPROVE, texts.BTN_REJECT]
    # While waiting: nothing but «still waiting».
    assert approve_bot.send(USER_ID, "/all").last(USER_ID).text == texts.REG_REQUEST_WAITING
    approve = copies[ADMIN_ID][0].button(texts.BTN_APPROVE)["callback_data"]
    reject = copies[ADMIN2][0].button(texts.BTN_REJECT)["callback_data"]
    approve_bot.sender.clear()
    approve_bot.press(ADMIN_ID, approve)
    assert Person.get(Person.telegram_id == USER_ID).email == "new@company.ru"
    assert approve_bot.sender.last(USER_ID).text == texts.HELP_USER
    assert texts.REG_APPROVED.format(email="new@company.ru") in approve_bot.sender.texts(USER_ID)
    # The admin's name as Telegram shows it now (the profile is refreshed on every update).
    decided = texts.ACCESS_APPROVED_BY.format(admin=Person.get(Person.telegram_id == ADMIN_ID).name)
    edits = approve_bot.sender.of("editMessageText")
    assert {int(c.params["chat_id"]) for c in edits} == {ADMIN_ID, ADMIN2}
    assert all(c.text.endswith(decided) and not c.markup for c in edits)
    # The second admin is late: told who decided, nothing changes.
    approve_bot.sender.clear()
    approve_bot.press(ADMIN2, reject)
    assert approve_bot.sender.alerts() == [texts.ACCESS_ALREADY.format(decision=decided)]
    assert AccessRequest.get().status == "approved"
    assert not approve_bot.sender.texts(USER_ID)
    assert [a.action for a in AuditLog.select().where(AuditLog.action.startswith("access."))
            .order_by(AuditLog.id)] == ["access.requested", "access.approved"]


def test_rejected_person_is_told_and_stays_out(approve_bot):
    approve_bot.send(USER_ID, "new@company.ru")
    data = request_copies(approve_bot, ADMIN2)[0].button(texts.BTN_REJECT)["callback_data"]
    approve_bot.press(ADMIN2, data)
    assert approve_bot.sender.last(USER_ID).text == texts.REG_REJECTED
    assert Person.select().count() == 0
    assert approve_bot.send(USER_ID, "/all").last(USER_ID).text.startswith(
        texts.ASK_EMAIL.split("\n")[0])


def test_two_admins_racing_one_decision_wins(backend, approve_bot):
    approve_bot.send(USER_ID, "new@company.ru")
    request = AccessRequest.get()
    db.close()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def answer(admin: int, approve: bool) -> None:
        db.connect(reuse_if_open=True)
        try:
            barrier.wait()
            access.decide(request.id, approve, actor=None, actor_name=str(admin),
                          actor_telegram_id=admin, now=approve_bot.clock.now)
            outcomes.append("won")
        except AlreadyDecided:
            outcomes.append("late")
        finally:
            db.close()

    threads = [threading.Thread(target=answer, args=(ADMIN_ID, True)),
               threading.Thread(target=answer, args=(ADMIN2, False))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    db.connect(reuse_if_open=True)
    assert sorted(outcomes) == ["late", "won"]
    final = AccessRequest.get()
    assert final.status in ("approved", "rejected")
    assert Person.select().count() == (1 if final.status == "approved" else 0)
    assert AuditLog.select().where(AuditLog.action.in_(
        ("access.approved", "access.rejected"))).count() == 1


def test_three_requests_an_hour_then_admins_are_left_alone(approve_bot):
    for n in range(4):
        approve_bot.send(USER_ID, f"a{n}@company.ru")
        assert approve_bot.sender.last(USER_ID).text == texts.REG_REQUEST_SENT
        copies = request_copies(approve_bot, ADMIN_ID)
        if n < 3:
            approve_bot.press(ADMIN_ID, copies[-1].button(texts.BTN_REJECT)["callback_data"])
    assert len(request_copies(approve_bot, ADMIN_ID)) == 3
    approve_bot.clock.advance(hours=1, minutes=1)
    approve_bot.send(USER_ID, "a4@company.ru")
    assert len(request_copies(approve_bot, ADMIN_ID)) == 4


def test_stranger_with_an_imported_email_waits_for_an_admin_who_sees_it(approve_bot,
                                                                        imported_ivan):
    approve_bot.send(STRANGER, IVAN, username="")
    copy = request_copies(approve_bot, ADMIN_ID)[0]
    assert texts.ACCESS_KNOWN.format(devices=texts.devices_count(1)) in copy.text
    assert texts.ACCESS_NO_USERNAME in copy.text
    assert AccessRequest.get().known
    # Until an admin decides, the stranger is not Ivan and sees nothing.
    assert Person.get(Person.email == IVAN).telegram_id is None
    assert approve_bot.send(STRANGER, "/mine").last(STRANGER).text == texts.REG_REQUEST_WAITING
    approve_bot.press(ADMIN_ID, copy.button(texts.BTN_REJECT)["callback_data"])
    assert Person.get(Person.email == IVAN).telegram_id is None
    assert approve_bot.sender.last(STRANGER).text == texts.REG_REJECTED


def test_approve_reply_is_identical_for_every_email(approve_bot, seed, imported_ivan):
    seed.person(777, "taken@company.ru")
    gone = seed.person(778, "gone@company.ru")
    Person.update(deleted_at=approve_bot.clock.now).where(Person.id == gone.id).execute()
    replies = set()
    for chat, address in ((601, "nobody@company.ru"), (602, IVAN), (603, "taken@company.ru"),
                          (604, "gone@company.ru")):
        approve_bot.sender.clear()
        approve_bot.send(chat, address)
        replies.add(json.dumps(approve_bot.sender.texts(chat)))
    assert replies == {json.dumps([texts.REG_REQUEST_SENT])}
    # Only requests an admin can grant reach the admins.
    assert sorted(r.email for r in AccessRequest.select()) == [IVAN, "nobody@company.ru"]


def test_bootstrap_admin_registers_without_approval(approve_bot):
    approve_bot.send(ADMIN2, "boss@company.ru")
    assert Person.get(Person.telegram_id == ADMIN2).email == "boss@company.ru"
    assert not request_copies(approve_bot, ADMIN_ID)


def test_unregistered_bootstrap_admin_can_answer(approve_bot):
    approve_bot.send(USER_ID, "new@company.ru")
    data = request_copies(approve_bot, ADMIN2)[0].button(texts.BTN_APPROVE)["callback_data"]
    approve_bot.press(ADMIN2, data)
    assert Person.get(Person.telegram_id == USER_ID).email == "new@company.ru"


def test_approval_after_the_email_was_taken_voids_the_request(approve_bot, seed):
    approve_bot.send(USER_ID, "new@company.ru")
    seed.person(777, "new@company.ru")  # registered meanwhile (e.g. by an admin's import + open)
    data = request_copies(approve_bot, ADMIN_ID)[0].button(texts.BTN_APPROVE)["callback_data"]
    approve_bot.press(ADMIN_ID, data)
    assert approve_bot.sender.alerts()[-1] == texts.ACCESS_VOID
    assert AccessRequest.get().status == "rejected"
    assert Person.get(Person.email == "new@company.ru").telegram_id == 777
    assert approve_bot.sender.last(USER_ID).text == texts.REG_REFUSED


# --- open mode ---------------------------------------------------------------------------------


def test_open_mode_registers_at_once(make_harness):
    bot = make_harness(registration="open")
    sent = bot.send(USER_ID, "a@company.ru")
    assert texts.REGISTERED.format(email="a@company.ru") in sent.texts(USER_ID)
    assert Person.get().telegram_id == USER_ID


# --- deleted people stay out --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["email", "approve", "open"])
def test_deleted_person_cannot_come_back_without_an_admin(make_harness, smtp, seed, mode):
    bot = make_harness(registration=mode, smtp=smtp.settings())
    admin = seed.person(ADMIN_ID, "admin@company.ru", name="Анна Админ")
    gone = seed.person(USER_ID, "gone@company.ru", name="Уволенный")
    bot.press(ADMIN_ID, f"usdo:{gone.id}")
    assert Person.get_by_id(gone.id).deleted_at is not None
    bot.sender.clear()
    for address in ("gone@company.ru", "fresh@company.ru"):
        bot.send(USER_ID, address)
        if mode == "email":
            assert bot.sender.last(USER_ID).text == texts.REG_ASK_CODE.format(email=address)
        elif mode == "approve":
            assert bot.sender.last(USER_ID).text == texts.REG_REQUEST_SENT
        else:
            assert bot.sender.last(USER_ID).text == texts.REG_REFUSED
    assert not smtp.inbox.messages and AccessRequest.select().count() == 0
    assert Person.get_by_id(gone.id).deleted_at is not None
    assert Person.select().count() == 2
    # An admin restores them from /users: the deleted list, the card, «Восстановить».
    bot.sender.clear()
    bot.send(ADMIN_ID, "/users")
    listing = bot.sender.last(ADMIN_ID).button(texts.BTN_USERS_DELETED.format(count=1))
    bot.press(ADMIN_ID, listing["callback_data"])
    card = bot.sender.last(ADMIN_ID).button("Уволенный")["callback_data"]
    bot.press(ADMIN_ID, card)
    bot.press(ADMIN_ID, bot.sender.last(ADMIN_ID).button(texts.BTN_USER_RESTORE)["callback_data"])
    assert Person.get_by_id(gone.id).deleted_at is None
    assert texts.NOTIFY_RESTORED in bot.sender.texts(USER_ID)
    assert AuditLog.select().where((AuditLog.action == "person.restored")
                                   & (AuditLog.actor == admin.id)).count() == 1
    assert bot.send(USER_ID, "/mine").last(USER_ID).text != texts.REG_REFUSED
    assert Person.get(Person.telegram_id == USER_ID).email == "gone@company.ru"


# --- admin rights ------------------------------------------------------------------------------


def menu_of(bot, chat_id: int) -> list[str]:
    """Commands of the latest setMyCommands for a chat."""
    calls = [c for c in bot.sender.of("setMyCommands")
             if json.loads(c.params.get("scope") or "{}").get("chat_id") == chat_id]
    assert calls, "no menu set for the chat"
    return [c["command"] for c in json.loads(calls[-1].params["commands"])]


def test_promote_and_demote_from_users(harness, seed):
    admin = seed.person(ADMIN_ID, "admin@company.ru", name="Анна Админ")
    olga = seed.person(USER_ID, "olga@company.ru", name="Ольга")
    bystander = seed.person(USER_ID + 1, "petr@company.ru", name="Пётр")
    assert harness.send(USER_ID, "/users").last(USER_ID).text == texts.NOT_FOUND.format(
        query="/users")
    harness.press(ADMIN_ID, f"usr:{olga.id}")
    harness.press(ADMIN_ID, harness.sender.last(ADMIN_ID).button(
        texts.BTN_USER_MAKE_ADMIN)["callback_data"])
    assert Person.get_by_id(olga.id).is_admin and not Person.get_by_id(bystander.id).is_admin
    assert "users" in menu_of(harness, USER_ID)
    assert texts.NOTIFY_ADMIN_GRANTED in harness.sender.texts(USER_ID)
    card = harness.sender.last(ADMIN_ID)
    assert card.text.startswith(texts.USER_ADMIN_GRANTED.format(
        name=Person.get_by_id(olga.id).name))
    assert texts.USER_ADMIN in card.text
    # Olga is an admin everywhere at once: commands, buttons.
    assert harness.send(USER_ID, "/users").last(USER_ID).text.startswith(
        texts.USERS_TITLE.split("{")[0])
    harness.press(ADMIN_ID, card.button(texts.BTN_USER_REVOKE_ADMIN)["callback_data"])
    assert not Person.get_by_id(olga.id).is_admin
    assert "users" not in menu_of(harness, USER_ID)
    assert texts.NOTIFY_ADMIN_REVOKED in harness.sender.texts(USER_ID)
    assert harness.send(USER_ID, "/users").last(USER_ID).text == texts.NOT_FOUND.format(
        query="/users")
    assert [(a.action, a.actor_id, a.person_id) for a in AuditLog.select().where(
        AuditLog.action.startswith("person.admin")).order_by(AuditLog.id)] == [
        ("person.admin_granted", admin.id, olga.id), ("person.admin_revoked", admin.id, olga.id)]


def test_bootstrap_admins_are_protected(make_harness, seed):
    bot = make_harness(admin_ids=frozenset({ADMIN_ID, ADMIN2}))
    seed.person(ADMIN_ID, "admin@company.ru", name="Анна")
    boss = seed.person(ADMIN2, "boss@company.ru", name="Борис")
    bot.press(ADMIN_ID, f"usr:{boss.id}")
    card = bot.sender.last(ADMIN_ID)
    assert texts.USER_ADMIN_BOOTSTRAP in card.text
    labels = [b["text"] for b in card.buttons]
    assert texts.BTN_USER_REVOKE_ADMIN not in labels and texts.BTN_USER_MAKE_ADMIN not in labels
    for data in (f"usn:{boss.id}", f"usd:{boss.id}", f"usdo:{boss.id}"):
        bot.press(ADMIN_ID, data)
        assert bot.sender.alerts()[-1] == texts.USER_ADMIN_PROTECTED, data
    assert Person.get_by_id(boss.id).deleted_at is None
    assert not AuditLog.select().where(AuditLog.action.startswith("person.")).exists()


def test_an_admin_cannot_demote_themselves(harness, seed):
    seed.person(ADMIN_ID, "admin@company.ru")
    olga = seed.person(USER_ID, "olga@company.ru", name="Ольга")
    Person.update(is_admin=True).where(Person.id == olga.id).execute()
    harness.press(USER_ID, f"usn:{olga.id}")
    assert harness.sender.alerts()[-1] == texts.USER_ADMIN_SELF
    assert Person.get_by_id(olga.id).is_admin


def test_a_deleted_admin_is_no_admin(harness, seed):
    seed.person(ADMIN_ID, "admin@company.ru")
    olga = seed.person(USER_ID, "olga@company.ru", name="Ольга")
    Person.update(is_admin=True).where(Person.id == olga.id).execute()
    harness.press(ADMIN_ID, f"usdo:{olga.id}")
    assert "users" not in menu_of(harness, USER_ID)
    harness.sender.clear()
    harness.press(USER_ID, f"usr:{olga.id}")
    assert harness.sender.alerts() == [texts.NEED_REGISTRATION]


def test_db_admins_get_requests_and_their_menu_at_start(make_harness, seed):
    from bot import setup_commands

    bot = make_harness(registration="approve")
    olga = seed.person(USER_ID + 5, "olga@company.ru", name="Ольга")
    Person.update(is_admin=True).where(Person.id == olga.id).execute()
    bot.send(STRANGER, "new@company.ru")
    assert request_copies(bot, USER_ID + 5) and request_copies(bot, ADMIN_ID)
    setup_commands(bot.bot)
    db.connect(reuse_if_open=True)
    assert "users" in menu_of(bot, USER_ID + 5)


def test_lock_events_use_the_injected_clock(conn, clock):
    issued = access.issue_code(USER_ID, "a@company.ru", now=clock.now)
    assert RegistrationCode.get_by_id(issued.id).created_at == clock.now


def test_admins_made_in_users_get_the_digest_too(make_harness, seed, clock):
    from jobs import reminders as job
    from outbox.notifier import Notifier

    bot = make_harness(admin_ids=frozenset({ADMIN_ID}))
    seed.person(ADMIN_ID, "admin@company.ru")
    olga = seed.person(USER_ID, "olga@company.ru", name="Ольга")
    ex = seed.person(USER_ID + 1, "ex@company.ru", name="Бывший")
    Person.update(is_admin=True).where(Person.id.in_([olga.id, ex.id])).execute()
    Person.update(deleted_at=clock.now).where(Person.id == ex.id).execute()
    holder = seed.person(USER_ID + 2, "petr@company.ru", name="Пётр")
    seed.loan(seed.device(10, "Атол"), holder, due=clock.now.date() - timedelta(days=3))
    report = job.run(clock.now.date(), Notifier(bot.bot, sleep=lambda s: None), bot.bot.config,
                     clock.now)
    assert report.digest.sent == 2
    titles = {chat: [t for t in bot.sender.texts(chat) if t.startswith("<b>Просрочено")]
              for chat in (ADMIN_ID, USER_ID, USER_ID + 1)}
    assert len(titles[ADMIN_ID]) == len(titles[USER_ID]) == 1 and not titles[USER_ID + 1]


def test_a_sticker_during_the_code_step_keeps_it(email_bot, smtp):
    email_bot.send(USER_ID, "a@company.ru")
    email_bot.update(message_update(USER_ID, None, sticker={
        "file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1,
        "is_animated": False, "is_video": False}))
    assert email_bot.sender.last(USER_ID).text == texts.REG_CODE_HINT
    assert email_bot.send(USER_ID, "hello").last(USER_ID).text == texts.REG_CODE_HINT
    email_bot.send(USER_ID, smtp.inbox.code_for("a@company.ru"))
    assert Person.get().telegram_id == USER_ID
    assert access.wrong_codes(USER_ID, email_bot.clock.now) == 0
