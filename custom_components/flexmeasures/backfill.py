"""Rebuilding the steps missed while Home Assistant was down, from the recorder.

After a restart each track starts from the end of its last queued step (at
most BACKFILL_LIMIT back): the recorder's states since then (with their
attributes, so each is converted with the unit it had then) are replayed into
the track, so the missed steps are queued before live states follow.

Nothing is invented for the time Home Assistant was not running: the gaps
between the recorder's runs (a run closed as incorrect, after a crash or a
power cut, ends at the last state recorded in it, not at the next start) and
the clock jumps seen before are gaps in the replay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial
from typing import Final, cast

from homeassistant.core import HomeAssistant, State
from homeassistant.helpers.recorder import get_instance, session_scope

from .const import LOGGER
from .delivery import utc
from .gaps import Gap, downtimes, merge
from .tracking import Track

BACKFILL_LIMIT: Final = 7 * 86400.0
REPLAY_CHUNK: Final = 2000  # states replayed between two turns of the event loop

# per mapping (subentry id): the start to rebuild from and the states since
type History = dict[str, tuple[float, list[State]]]


def _begin(track: Track, now: float) -> float | None:
    """Where a track's rebuild starts, or None when it has nothing to rebuild."""
    grid = track.grid
    last_end = track.box.last_end
    if grid is None or last_end is None or last_end > now:
        return None
    return max(grid.floor(last_end), grid.floor(now - BACKFILL_LIMIT))


def _recorder_downtimes(hass: HomeAssistant) -> list[Gap]:
    """The gaps between the recorder's runs (in the recorder's executor)."""
    # pylint: disable=import-outside-toplevel
    from homeassistant.components.recorder.db_schema import (  # noqa: PLC0415
        RecorderRuns,
        States,
    )
    from homeassistant.components.recorder.models import (  # noqa: PLC0415
        process_timestamp,
    )
    from sqlalchemy import func  # noqa: PLC0415

    runs: list[tuple[float, float | None]] = []
    with session_scope(hass=hass, read_only=True) as session:
        for run in session.query(RecorderRuns).order_by(RecorderRuns.start):
            start = process_timestamp(run.start).timestamp()
            end = None if run.end is None else process_timestamp(run.end).timestamp()
            if run.closed_incorrect and end is not None:
                last = (
                    session.query(func.max(States.last_updated_ts))
                    .filter(
                        States.last_updated_ts >= start, States.last_updated_ts <= end
                    )
                    .scalar()
                )
                end = start if last is None else max(float(last), start)
            runs.append((start, end))
    return downtimes(runs)


async def async_history(
    hass: HomeAssistant, tracks: Sequence[Track], now: float, known: Sequence[Gap]
) -> tuple[History, list[Gap]]:
    """States to rebuild each track from, and the gaps (downtime, `known` jumps)."""
    if "recorder" not in hass.config.components:
        return {}, []
    # pylint: disable-next=import-outside-toplevel
    from homeassistant.components.recorder.history import (  # noqa: PLC0415
        get_significant_states,
    )

    begins = {
        id(track): begin
        for track in tracks
        if (begin := _begin(track, now)) is not None
    }
    if not begins:
        return {}, []
    recorder = get_instance(hass)
    try:
        gaps = merge(
            [*await recorder.async_add_executor_job(_recorder_downtimes, hass), *known]
        )
    except Exception:  # noqa: BLE001 - the recorder must not stop live data
        LOGGER.warning(
            "Could not read when Home Assistant was running; missed measurements "
            "are not rebuilt (rather than guessed)",
            exc_info=True,
        )
        return {}, []
    result: History = {}
    for track in tracks:
        if (begin := begins.get(id(track))) is None:
            continue
        entity_id = track.box.mapping.entity_id
        try:
            states = await recorder.async_add_executor_job(
                partial(
                    get_significant_states,
                    hass,
                    utc(begin - 0.001),  # a change right at `begin` too
                    utc(now),
                    [entity_id],
                    include_start_time_state=True,
                    significant_changes_only=False,  # unit changes too
                    no_attributes=False,
                )
            )
        except Exception:  # noqa: BLE001 - the recorder must not stop live data
            LOGGER.warning(
                "Could not read the history of %s; missed measurements are lost",
                entity_id,
                exc_info=True,
            )
            continue
        past = cast("list[State]", states.get(entity_id, []))
        result[track.box.mapping.subentry_id] = (begin, past)
    return result, gaps


async def async_replay(
    track: Track,
    begin: float,
    past: Sequence[State],
    *,
    current: State | None,
    now: float,
    gaps: Sequence[Gap] = (),
) -> None:
    """Open the track at `begin`, replay past states and gaps, close until `now`.

    `past` is in time order (as the recorder answers). Days of a chatty entity
    are hundreds of thousands of states: the event loop gets a turn after each
    REPLAY_CHUNK of them.
    """
    states = [*past, current] if current is not None else list(past)
    # gaps in order of start; a state recorded as Home Assistant stopped comes
    # before the gap that follows it (a gap goes first only when it starts earlier)
    starts = sorted(
        max(start, begin) for start, end in gaps if end > begin and start < now
    )
    initial: State | None = None
    if states and states[0].last_updated_timestamp <= begin:
        initial = states.pop(0)
    track.open(begin, initial)
    next_gap = 0
    for count, state in enumerate(states, 1):
        ts = max(state.last_updated_timestamp, begin)
        while next_gap < len(starts) and starts[next_gap] < ts:
            track.gap(starts[next_gap])
            next_gap += 1
        track.follow(ts, state)
        if count % REPLAY_CHUNK == 0:
            await asyncio.sleep(0)
    for start in starts[next_gap:]:
        track.gap(start)
    track.close_until(now)
    LOGGER.debug(
        "Rebuilt %s from the recorder since %s; outbox %d",
        track.box.mapping.entity_id,
        utc(begin).isoformat(),
        len(track.box.items),
    )
