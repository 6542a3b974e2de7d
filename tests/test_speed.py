"""One round trip per answer: what each button sends, in which order; the bench's verdicts."""

from __future__ import annotations

from conftest import USER_ID

import bench.__main__ as bench_main
from bench.common import Result
from handlers import texts
from models import Loan


def methods(sender) -> list[str]:
    """The Bot API methods called since the last clear, in order."""
    return [c.method for c in sender.calls]


def test_take_dialogue_buttons_make_one_edit_and_the_answer(harness, seed):
    seed.person(USER_ID)
    device = seed.device(49)
    harness.press(USER_ID, f"take:{device.id}")
    harness.sender.clear()
    sent = harness.press(USER_ID, "tkp:skip")
    # The spinner is answered first, then the prompt turns into the next question in place.
    assert methods(sent) == ["answerCallbackQuery", "editMessageText"]
    assert sent.last(USER_ID).text.startswith(texts.ASK_DUE.split("{")[0])
    harness.sender.clear()
    sent = harness.press(USER_ID, "tkd:week")
    assert methods(sent) == ["answerCallbackQuery", "editMessageText"]
    assert sent.last(USER_ID).text.startswith(texts.TAKEN.format(number=49, name="Эвотор 7.2"))
    assert Loan.get().returned_at is None


def test_a_typed_date_still_gets_a_new_message(harness, seed):
    seed.person(USER_ID)
    device = seed.device(49)
    harness.press(USER_ID, f"take:{device.id}")
    harness.press(USER_ID, "tkp:skip")
    harness.sender.clear()
    sent = harness.send(USER_ID, "01.12.2026")
    assert methods(sent) == ["sendMessage"]
    assert sent.last(USER_ID).text.startswith(texts.TAKEN.format(number=49, name="Эвотор 7.2"))


def test_card_and_paging_answer_the_button_before_the_reply(harness, seed):
    seed.person(USER_ID)
    device = seed.device(49)
    for data in (f"card:{device.id}", "all:1"):
        harness.sender.clear()
        assert methods(harness.press(USER_ID, data)) == ["answerCallbackQuery",
                                                         "editMessageText"]


def test_an_alert_is_still_the_one_answer(harness, seed):
    seed.person(USER_ID)
    harness.sender.clear()
    sent = harness.press(USER_ID, "tkp:skip")  # not in the take dialogue: a stale button
    assert methods(sent) == ["answerCallbackQuery"]
    assert sent.alerts() == [texts.STALE_BUTTON]


def test_ratios_decide_the_exit_status_and_milliseconds_do_not():
    slow = Result("handlers", "sqlite", "card", 99.0, 120.0, target_ms=15.0)
    assert not slow.ok and not slow.judged and slow.verdict == "(no)"
    far = Result("roundtrip", "sqlite", "card", 40.0, 40.0, value=0.4, limit=0.3, unit="RT")
    assert far.judged and not far.ok and far.verdict == "NO"
    near = Result("roundtrip", "sqlite", "card", 20.0, 20.0, value=0.2, limit=0.3)
    assert near.ok
    fast = Result("load", "sqlite", "x", 1, 1, value=0.6, limit=0.5, at_least=True)
    assert fast.ok and not Result("load", "sqlite", "x", 1, 1, value=0.4, limit=0.5,
                                  at_least=True).ok
    grew = Result("scaling", "sqlite", "s", 1, 1, value=5, limit=6, equal=False)
    assert not grew.ok


def test_speed_benchmark_smoke(capsys, monkeypatch):
    monkeypatch.delenv("BENCH_DATABASE_URL", raising=False)
    assert bench_main.main(["--small", "--section", "speed", "--backend", "sqlite"]) == 0
    out = capsys.readouterr().out
    for name in ("take: in a week: reply leaves", "return: confirm: last call done",
                 "echo bot (baseline)", "devtrack / echo", "devtrack p95 / median",
                 "search (serial) 2k/100", "/mine: statements"):
        assert name in out, name
