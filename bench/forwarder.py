"""Benchmark the measurement forwarder.

1. State-change handling cost per event: the median over 100k state_changed
   events on 50 mapped PT15M sensors, of the forwarder's handler
   (target <= 10 us): power entities (time-weighted means) and energy meters
   (total_increasing kWh, change per step).
2. Requests needed to deliver a 24 h backlog of one PT15M sensor (target 1),
   and a 7-day backlog of 20 PT15M sensors (target <= 20), with a counting
   fake client.

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
    outbox_store,
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


def _sensor(sensor_id: int, unit: str = "kW") -> Sensor:
    return Sensor(sensor_id, "p", unit, Q, "Europe/Amsterdam", 1)


async def _bench_events(hass: Any, *, meters: bool) -> list[float]:
    kind = "meters" if meters else "power"
    entry = MockConfigEntry(domain="flexmeasures", entry_id=f"bench-{kind}")
    entry.add_to_hass(hass)
    unit = "kWh" if meters else "kW"
    mappings = [
        MeasurementMapping(f"{kind}{i}", f"sensor.{kind}{i}", _sensor(i, unit))
        for i in range(SENSORS)
    ]
    attributes: dict[str, Any] = (
        {"unit_of_measurement": "kWh", "state_class": "total_increasing"}
        if meters
        else {"unit_of_measurement": "W"}
    )
    for mapping in mappings:
        hass.states.async_set(mapping.entity_id, "1", attributes)
    forwarder = MeasurementForwarder(
        hass, entry, cast("FlexMeasuresClient", CountingClient()), mappings
    )
    await forwarder.async_start()
    await hass.async_block_till_done(wait_background_tasks=True)
    handler = forwarder._async_on_state_change  # noqa: SLF001
    base = time.time()
    events: list[Event[EventStateChangedData]] = []
    for index in range(EVENTS):
        entity_id = f"sensor.{kind}{index % SENSORS}"
        # a meter's reading goes up; a power entity's jumps around
        value = 1000 + index * 0.01 if meters else index % 5000
        new = State(entity_id, str(value), attributes)
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


async def _bench_backlog(hass: Any, sensors: int, days: int) -> tuple[int, int]:
    entry_id = f"backlog-{sensors}-{days}"
    entry = MockConfigEntry(domain="flexmeasures", entry_id=entry_id)
    entry.add_to_hass(hass)
    now = datetime.now(UTC)
    steps = days * 96
    first = now.timestamp() - now.timestamp() % 900 - steps * 900
    await outbox_store(hass, entry_id).async_save(
        {
            "tracks": {
                f"s{i}": {
                    "sensor_id": i,
                    "unit": "kW",
                    "resolution": 900.0,
                    "timezone": "Europe/Amsterdam",
                    "per_step": False,
                    "outbox": [[first + k * 900, 1.0] for k in range(steps)],
                    "last_end": first + steps * 900,
                }
                for i in range(sensors)
            },
            "gaps": [],
        }
    )
    client = CountingClient()
    forwarder = MeasurementForwarder(
        hass,
        entry,
        cast("FlexMeasuresClient", client),
        [
            MeasurementMapping(f"s{i}", f"sensor.x{i}", _sensor(i))
            for i in range(sensors)
        ],
    )
    await forwarder.async_start()
    await hass.async_block_till_done(wait_background_tasks=True)
    await forwarder.async_stop()
    return client.requests, client.values


def _report(name: str, timings: list[float]) -> None:
    timings.sort()
    median = statistics.median(timings)
    print(f"state change handling, {name}: {EVENTS} events on {SENSORS} sensors")
    print(
        f"  median {median:.2f} us, p90 {timings[int(len(timings) * 0.9)]:.2f} us, "
        f"p99 {timings[int(len(timings) * 0.99)]:.2f} us (target <= 10 us)"
    )
    print(f"  ratio median/target: {median / 10:.3f}")


async def main() -> None:
    with tempfile.TemporaryDirectory() as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            power = await _bench_events(hass, meters=False)
            meters = await _bench_events(hass, meters=True)
            day = await _bench_backlog(hass, 1, 1)
            week = await _bench_backlog(hass, 20, 7)
            await hass.async_stop(force=True)
    _report("power entities (time-weighted means)", power)
    _report("energy meters (change per step)", meters)
    requests, values = day
    print(
        f"24 h backlog of one PT15M sensor ({values} steps): {requests} request(s) "
        "(target 1)"
    )
    requests, values = week
    print(
        f"7-day backlog of 20 PT15M sensors ({values} steps): {requests} request(s) "
        "(target <= 20)"
    )


if __name__ == "__main__":
    asyncio.run(main())
