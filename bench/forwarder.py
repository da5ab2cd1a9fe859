"""Benchmark the measurement forwarder.

1. State-change handling cost per event: the median over 100k state_changed
   events on 50 mapped PT15M sensors, of the forwarder's handler
   (target <= 10 us).
2. Requests needed to deliver a 24 h backlog of one PT15M sensor (target 1),
   with a counting fake client.

Run: .venv/bin/python bench/forwarder.py   (prints figures, not a pass/fail test)
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
import statistics
import sys
import tempfile
import time
from typing import Any, cast

from homeassistant.core import Event, EventStateChangedData, State
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

sys.path.insert(0, ".")
from custom_components.flexmeasures.api import FlexMeasuresClient, Sensor
from custom_components.flexmeasures.forwarder import (
    MeasurementForwarder,
    MeasurementMapping,
)

SENSORS = 50
EVENTS = 100_000
Q = timedelta(minutes=15)


class CountingClient:
    """Counts posts and the values they carry."""

    def __init__(self) -> None:
        self.requests = 0
        self.values = 0

    async def post_sensor_data(self, sensor_id: int, **kwargs: Any) -> str:
        self.requests += 1
        self.values += len(kwargs["values"])
        return "PROCESSED"


def _sensor(sensor_id: int) -> Sensor:
    return Sensor(sensor_id, "p", "kW", Q, "Europe/Amsterdam", 1)


async def _bench_events(hass: Any) -> list[float]:
    entry = MockConfigEntry(domain="flexmeasures", entry_id="bench")
    entry.add_to_hass(hass)
    mappings = [
        MeasurementMapping(f"s{i}", f"sensor.p{i}", _sensor(i)) for i in range(SENSORS)
    ]
    for mapping in mappings:
        hass.states.async_set(mapping.entity_id, "1", {"unit_of_measurement": "W"})
    forwarder = MeasurementForwarder(
        hass, entry, cast("FlexMeasuresClient", CountingClient()), mappings
    )
    await forwarder.async_start()
    await hass.async_block_till_done(wait_background_tasks=True)
    handler = forwarder._async_on_state_change  # noqa: SLF001
    base = time.time()
    events: list[Event[EventStateChangedData]] = []
    for index in range(EVENTS):
        entity_id = f"sensor.p{index % SENSORS}"
        new = State(entity_id, str(index % 5000), {"unit_of_measurement": "W"})
        events.append(
            Event(
                "state_changed",
                {"entity_id": entity_id, "old_state": None, "new_state": new},
                time_fired_timestamp=base + index * 0.001,
            )
        )
    timings: list[float] = []
    clock = time.perf_counter_ns
    for event in events:
        start = clock()
        handler(event)
        timings.append((clock() - start) / 1000)
    await forwarder.async_stop()
    return timings


async def _bench_backlog(hass: Any) -> tuple[int, int]:
    entry = MockConfigEntry(domain="flexmeasures", entry_id="backlog")
    entry.add_to_hass(hass)
    now = datetime.now(UTC)
    first = now.timestamp() - now.timestamp() % 900 - 86400
    key = "flexmeasures.outbox.backlog"
    from homeassistant.helpers.storage import Store  # noqa: PLC0415

    await Store[dict[str, Any]](hass, 1, key).async_save(
        {
            "tracks": {
                "s": {
                    "sensor_id": 1,
                    "outbox": [[first + i * 900, 1.0] for i in range(96)],
                    "last_end": first + 96 * 900,
                }
            }
        }
    )
    client = CountingClient()
    forwarder = MeasurementForwarder(
        hass,
        entry,
        cast("FlexMeasuresClient", client),
        [MeasurementMapping("s", "sensor.x", _sensor(1))],
    )
    await forwarder.async_start()
    await hass.async_block_till_done(wait_background_tasks=True)
    await forwarder.async_stop()
    return client.requests, client.values


async def main() -> None:
    with tempfile.TemporaryDirectory() as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            timings = await _bench_events(hass)
            requests, values = await _bench_backlog(hass)
            await hass.async_stop(force=True)
    timings.sort()
    median = statistics.median(timings)
    print(f"state change handling: {EVENTS} events on {SENSORS} sensors")
    print(
        f"  median {median:.2f} us, p90 {timings[int(len(timings) * 0.9)]:.2f} us, "
        f"p99 {timings[int(len(timings) * 0.99)]:.2f} us (target <= 10 us)"
    )
    print(f"  ratio median/target: {median / 10:.3f}")
    print(
        f"24 h backlog of one PT15M sensor ({values} steps): {requests} request(s) "
        "(target 1)"
    )


if __name__ == "__main__":
    asyncio.run(main())
