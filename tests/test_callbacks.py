"""Button errors: only unreadable button data is a stale button; anything else is a real error."""

from __future__ import annotations

import logging

import pytest
from conftest import USER_ID

import inventory.devices
from handlers import texts


@pytest.fixture
def world(seed):
    """A registered user and one free device."""
    seed.person(USER_ID, username="ivan")
    return seed.device(7, "Эвотор 7", serial="ZN-007")


@pytest.mark.parametrize("data", ["card:abc", "card", "ret:x", "ext:7:notadate",
                                  "dlg:maybe", "ql:", "sq:1"])
def test_unreadable_button_data_is_a_stale_button(harness, world, caplog, data):
    caplog.set_level(logging.INFO, logger="handlers.callbacks")
    harness.press(USER_ID, data)
    assert harness.sender.alerts() == [texts.STALE_BUTTON]
    assert texts.ERROR_SHORT not in harness.sender.alerts()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("bad callback arguments" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("error", [ValueError, IndexError, KeyError])
def test_an_error_inside_a_handler_is_reported_not_hidden(harness, world, caplog, monkeypatch,
                                                           error):
    def broken(*args, **kwargs):
        raise error("bug in the domain")

    monkeypatch.setattr(inventory.devices, "card", broken)
    caplog.set_level(logging.INFO)
    harness.press(USER_ID, f"card:{world.id}")
    assert harness.sender.alerts() == [texts.ERROR_SHORT]
    assert texts.STALE_BUTTON not in harness.sender.alerts()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and "bug in the domain" in errors[0].getMessage()
    assert not any("bad callback arguments" in r.getMessage() for r in caplog.records)
