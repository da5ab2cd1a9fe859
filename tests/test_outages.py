"""OutageLog logs an outage once each way; Backoff doubles up to its ceiling."""

from __future__ import annotations

import logging

import pytest

from custom_components.flexmeasures.outages import Backoff, OutageLog


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Repeated failures go to debug; a success without an outage logs nothing."""
    caplog.set_level(logging.DEBUG, logger="custom_components.flexmeasures")
    outage = OutageLog()
    outage.recovered("back")
    outage.failed("timeout", "down: %s", "timeout")
    outage.failed("refused", "down: %s", "refused")
    assert outage.problem == "refused"
    outage.recovered("back")
    outage.recovered("back")
    assert outage.problem is None
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "down: timeout"),
        (logging.DEBUG, "down: refused"),
        (logging.INFO, "back"),
    ]


def test_backoff_doubles_to_its_ceiling_and_starts_again_after_a_reset() -> None:
    """first, 2x, 4x, ... capped at most; reset goes back to first."""
    backoff = Backoff(10.0, 35.0)
    assert [backoff.next() for _ in range(4)] == [10.0, 20.0, 35.0, 35.0]
    backoff.reset()
    assert backoff.next() == 10.0
