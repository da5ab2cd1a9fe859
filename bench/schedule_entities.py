"""Schedule entities against the real server: latency and recorded attribute size.

Run: .venv/bin/python bench/schedule_entities.py [N]
Reads the server from `scripts/flexmeasures-server status` and sets up a
minimal Home Assistant (the test harness's, with the toy account and a schedule
device for the toy battery), then:

(a) N times: call `flexmeasures.trigger_schedule` and time call -> the
    `last_update` entity's state changed (the entities were updated), divided
    by the job's own time at the server (GET /jobs/<uuid>: enqueued_at ->
    ended_at). Prints each ratio and the median. Target: median <= 1.2.
(b) Puts a 48 h schedule at 5-minute steps (576 steps, every value different:
    the worst case for the merged `schedule` attribute) on the device and
    measures the power setpoint's attributes as the recorder stores them
    (`StateAttributes.shared_attrs_bytes_from_event`, which drops
    `_unrecorded_attributes`) and the full `schedule` attribute as JSON.
    Limit: 16384 bytes (recorder MAX_STATE_ATTRS_BYTES) for the recorded part.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
import statistics
import subprocess
import sys
import time
from typing import Any
from unittest.mock import patch

from aiohttp.resolver import ThreadedResolver

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Import the project's package before Home Assistant's test config dir can
# shadow it.
from homeassistant import loader  # noqa: E402
from homeassistant.components.recorder.const import SupportedDialect  # noqa: E402
from homeassistant.components.recorder.db_schema import (  # noqa: E402
    MAX_STATE_ATTRS_BYTES,
    StateAttributes,
)
from homeassistant.config_entries import ConfigSubentryData  # noqa: E402
from homeassistant.const import EVENT_STATE_CHANGED, Platform  # noqa: E402
from homeassistant.core import Event, HomeAssistant  # noqa: E402
from homeassistant.helpers import (  # noqa: E402
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.event import async_track_state_change_event  # noqa: E402
from homeassistant.helpers.json import json_bytes  # noqa: E402
from homeassistant.util import dt as dt_util  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_test_home_assistant,
)

import custom_components.flexmeasures  # noqa: E402, F401
from custom_components.flexmeasures.const import (  # noqa: E402
    DOMAIN,
    SUBENTRY_TYPE_SCHEDULE,
)
from custom_components.flexmeasures.schedule import align_down  # noqa: E402

SUBENTRY_ID = "01JBENCHSCHEDULETOYBATTERY"
SOC_ENTITY = "sensor.bench_battery_soc"


def server() -> dict[str, str]:
    """KEY=value lines of the running demo server."""
    out = subprocess.run(  # noqa: S603 - our own script
        [ROOT / "scripts" / "flexmeasures-server", "status"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def entity_of(hass: HomeAssistant, platform: str, key: str) -> str:
    """The entity id of one of the device's entities."""
    entity_id = er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"{SUBENTRY_ID}_{key}"
    )
    assert entity_id is not None
    return entity_id


async def latency(hass: HomeAssistant, entry: MockConfigEntry, runs: int) -> float:
    """(a) trigger -> entities updated, over the server's job time."""
    coordinator = entry.runtime_data.coordinators[SUBENTRY_ID]
    client = entry.runtime_data.client
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, SUBENTRY_ID), entry.entry_id
    )
    assert device is not None
    last_update = entity_of(hass, "sensor", "last_update")
    updated: list[float] = []

    def on_change(_event: Event[Any]) -> None:
        updated.append(time.perf_counter())

    unsub = async_track_state_change_event(hass, [last_update], on_change)
    ratios: list[float] = []
    try:
        for run in range(runs):
            updated.clear()
            began = time.perf_counter()
            await hass.services.async_call(
                DOMAIN,
                "trigger_schedule",
                {"device_id": device.id},
                blocking=True,
                return_response=True,
            )
            await hass.async_block_till_done()
            assert updated, "the entities were not updated"
            elapsed = updated[0] - began
            assert coordinator.job_id is not None
            status = await client.get_job_status(coordinator.job_id)
            assert status.enqueued_at is not None
            assert status.ended_at is not None
            job = (status.ended_at - status.enqueued_at).total_seconds()
            ratio = elapsed / job
            ratios.append(ratio)
            print(
                f"run {run + 1}: trigger -> entities {elapsed:.3f} s, "
                f"job {job:.3f} s, ratio {ratio:.2f}"
            )
    finally:
        unsub()
    median = statistics.median(ratios)
    print(
        f"(a) median ratio trigger->entities / job time: {median:.2f} (target <= 1.2)"
    )
    return median


async def attribute_size(hass: HomeAssistant, entry: MockConfigEntry) -> int:
    """(b) recorded attributes of the power setpoint for a 48 h, 5-minute schedule."""
    coordinator = entry.runtime_data.coordinators[SUBENTRY_ID]
    schedule = coordinator.data
    assert schedule is not None
    steps = 48 * 12
    big = replace(
        schedule,
        start=align_down(dt_util.utcnow(), timedelta(minutes=5)),
        resolution=timedelta(minutes=5),
        # every step differs (worst case for merging), realistic magnitudes
        values=tuple(round(-250.0 + (i * 37.123) % 500.0, 3) for i in range(steps)),
    )
    coordinator.async_set_updated_data(big)
    await hass.async_block_till_done()
    state = hass.states.get(entity_of(hass, "sensor", "power_setpoint"))
    assert state is not None
    event = Event(
        EVENT_STATE_CHANGED,
        {"entity_id": state.entity_id, "old_state": None, "new_state": state},
    )
    recorded = len(
        StateAttributes.shared_attrs_bytes_from_event(event, SupportedDialect.SQLITE)
    )
    full = len(json_bytes(state.attributes["schedule"]))
    all_attributes = len(json_bytes(dict(state.attributes)))
    print(
        f"(b) 48 h at 5 min ({steps} steps, {len(state.attributes['schedule'])} "
        f"segments): recorded attributes {recorded} bytes, all attributes "
        f"{all_attributes} bytes, full `schedule` attribute {full} bytes "
        f"(recorder limit {MAX_STATE_ATTRS_BYTES} bytes)"
    )
    return recorded


async def main(runs: int) -> None:
    """Set up the minimal Home Assistant and run both measurements."""
    env = server()
    async with async_test_home_assistant() as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
        hass.states.async_set(SOC_ENTITY, "150", {"unit_of_measurement": "kWh"})
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="Toy Account",
            unique_id=f"{env['FLEXMEASURES_URL']}_bench",
            data={
                "url": env["FLEXMEASURES_URL"],
                "email": env["FLEXMEASURES_EMAIL"],
                "password": env["FLEXMEASURES_PASSWORD"],
                "verify_ssl": True,
            },
            subentries_data=[
                ConfigSubentryData(
                    data={
                        "power_sensor": env["FM_TOY_BATTERY_SENSOR_ID"],
                        "consumption_price_sensor": env["FM_TOY_PRICE_SENSOR_ID"],
                        "production_price_sensor": "",
                        "soc_entity": SOC_ENTITY,
                        "capacity": 450,
                        "soc_min": 50,
                        "soc_max": 450,
                        "roundtrip_efficiency": 90,
                        "duration": 24,
                        "update_interval": 60,
                    },
                    subentry_id=SUBENTRY_ID,
                    subentry_type=SUBENTRY_TYPE_SCHEDULE,
                    title="Toy battery",
                    unique_id=env["FM_TOY_BATTERY_SENSOR_ID"],
                )
            ],
        )
        entry.add_to_hass(hass)
        # Only the sensor platform: the calendar would need `http` (and the
        # network set-up the test fixtures mock); the setpoint and last_update
        # sensors are what is measured.
        # As the test fixture `mock_zeroconf_resolver` does: plain DNS.
        resolver = ThreadedResolver()
        resolver.real_close = resolver.close  # type: ignore[attr-defined]
        with (
            patch("custom_components.flexmeasures.PLATFORMS", [Platform.SENSOR]),
            patch(
                "homeassistant.helpers.aiohttp_client._async_make_resolver",
                return_value=resolver,
            ),
        ):
            assert await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
        median = await latency(hass, entry, runs)
        recorded = await attribute_size(hass, entry)
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    print(
        f"RESULT latency_ratio_median={median:.2f} (<= 1.2: {median <= 1.2}) "
        f"recorded_attributes_bytes={recorded} (< 16384: {recorded < 16384})"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
