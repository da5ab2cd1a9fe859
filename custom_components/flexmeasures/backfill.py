"""Rebuilding the steps missed while Home Assistant was down, from the recorder.

After a restart each track starts from the end of its last queued step (at
most BACKFILL_LIMIT back): the recorder's states since then are replayed into
the track, so the missed steps are queued before live states follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Final

from homeassistant.core import HomeAssistant, State
from homeassistant.helpers.recorder import get_instance

from .const import LOGGER
from .delivery import utc
from .measurements import StepAccumulator, floor_step, parse_value
from .tracking import Track

BACKFILL_LIMIT: Final = 7 * 86400.0

type History = dict[str, tuple[float, list[State]]]


async def async_history(
    hass: HomeAssistant, tracks: Sequence[Track], now: float
) -> History:
    """Per mapping (subentry id): the start to rebuild from and the states since."""
    if "recorder" not in hass.config.components:
        return {}
    # pylint: disable-next=import-outside-toplevel
    from homeassistant.components.recorder.history import (  # noqa: PLC0415
        state_changes_during_period,
    )

    result: History = {}
    recorder = get_instance(hass)
    for track in tracks:
        last_end = track.box.last_end
        if track.step <= 0 or last_end is None or last_end > now:
            continue
        begin = max(last_end, floor_step(now - BACKFILL_LIMIT, track.step))
        entity_id = track.box.mapping.entity_id
        try:
            states = await recorder.async_add_executor_job(
                partial(
                    state_changes_during_period,
                    hass,
                    utc(begin - 0.001),  # a change right at `begin` too
                    utc(now),
                    entity_id,
                    no_attributes=True,
                    include_start_time_state=True,
                )
            )
        except Exception:  # noqa: BLE001 - the recorder must not stop live data
            LOGGER.warning(
                "Could not read the history of %s; missed measurements are lost",
                entity_id,
                exc_info=True,
            )
            continue
        result[track.box.mapping.subentry_id] = (begin, states.get(entity_id, []))
    return result


def replay(
    track: Track,
    begin: float,
    past: Sequence[State],
    current: State | None,
    now: float,
) -> None:
    """Open the track at `begin`, replay the past states, close until `now`."""
    acc = track.acc = StepAccumulator(track.step, begin)
    for past_state in past:
        ts = max(past_state.last_changed.timestamp(), begin)
        acc.add(ts, parse_value(past_state.state), track.closed)
    if current is not None:
        acc.add(
            max(current.last_changed_timestamp, acc.since),
            parse_value(current.state),
            track.closed,
        )
    acc.close_until(now, track.closed)
    track.queue_closed()
    LOGGER.debug(
        "Rebuilt %s from the recorder since %s; outbox %d",
        track.box.mapping.entity_id,
        utc(begin).isoformat(),
        len(track.box.items),
    )
