"""Deleting a device by hand (stale-devices): only what FlexMeasures no longer has.

Through Home Assistant's own websocket command (`config/device_registry/remove`,
the device page's "Delete"), against the fake FlexMeasures server.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.flexmeasures.const import DOMAIN

from .common import setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import NOW, SUBENTRY_ID, make_entry, set_soc

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]


MEASUREMENT_ID = "01JMEASUREMENTHOUSEPOWER00"
OTHER_ID = "01JSOMEFUTURESUBENTRYTYPE0"


async def _set_up(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, *more: ConfigSubentryData
) -> MockConfigEntry:
    assert await async_setup_component(hass, "config", {})
    set_soc(hass)
    entry = make_entry(fake_fm, more=more)
    await setup_integration(hass, entry)
    return entry


def _device_of(
    hass: HomeAssistant, entry: MockConfigEntry, subentry_id: str
) -> dr.DeviceEntry:
    """The sub-entry's device (made here: not every sub-entry type makes one yet)."""
    return dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        config_subentry_id=subentry_id,
        identifiers={(DOMAIN, subentry_id)},
        name=entry.subentries[subentry_id].title,
    )


def _device(
    hass: HomeAssistant, entry: MockConfigEntry, identifier: str
) -> dr.DeviceEntry:
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, identifier), entry.entry_id
    )
    assert device is not None
    return device


async def _remove(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, device_id: str
) -> dict[str, Any]:
    client = await hass_ws_client(hass)
    response: dict[str, Any] = await client.remove_device(device_id)
    await hass.async_block_till_done()
    return response


def _refused_by_the_integration(response: dict[str, Any]) -> bool:
    """Home Assistant asked the integration, and it said no."""
    return not response["success"] and response["error"]["message"] == (
        "Failed to remove device entry, rejected by integration"
    )


def _schedule_entities(hass: HomeAssistant) -> list[str]:
    return [
        e.entity_id
        for e in er.async_get(hass).entities.values()
        if e.unique_id.startswith(f"{SUBENTRY_ID}_")
    ]


@pytest.mark.parametrize(
    "lose_the_sensor",
    [
        pytest.param(lambda fm: fm.sensors.pop(8), id="deleted on the server"),
        pytest.param(
            lambda fm: fm.sensors[8].update(generic_asset_id=8),
            id="moved to another account",
        ),
    ],
)
async def test_a_schedule_device_whose_sensor_is_gone_can_be_removed(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    fake_fm: FakeFlexMeasures,
    lose_the_sensor: Any,
) -> None:
    """The device goes with its schedule sub-entry, so no reload brings it back."""
    entry = await _set_up(hass, fake_fm)
    device = _device(hass, entry, SUBENTRY_ID)
    assert _schedule_entities(hass)
    lose_the_sensor(fake_fm)

    response = await _remove(hass, hass_ws_client, device.id)

    assert response["success"], response
    assert dr.async_get(hass).async_get(device.id) is None
    assert SUBENTRY_ID not in entry.subentries
    assert entry.state is ConfigEntryState.LOADED  # reloaded without it
    assert SUBENTRY_ID not in entry.runtime_data.coordinators
    assert _schedule_entities(hass) == []
    assert (
        dr.async_get(hass).async_get_device_by_identifier(
            (DOMAIN, SUBENTRY_ID), entry.entry_id
        )
        is None
    )
    assert ("GET", "/api/v3_0/sensors/8") in fake_fm.requests


async def test_a_schedule_device_whose_sensor_exists_cannot_be_removed(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, fake_fm: FakeFlexMeasures
) -> None:
    entry = await _set_up(hass, fake_fm)
    device = _device(hass, entry, SUBENTRY_ID)

    requests = len(fake_fm.requests)

    response = await _remove(hass, hass_ws_client, device.id)

    assert _refused_by_the_integration(response), response
    assert ("GET", "/api/v3_0/sensors/8") in fake_fm.requests[requests:]
    assert dr.async_get(hass).async_get(device.id) is not None
    assert SUBENTRY_ID in entry.subentries
    assert _schedule_entities(hass)


@pytest.mark.parametrize(
    "trouble",
    [
        pytest.param(lambda fm: setattr(fm, "down", True), id="server down"),
        pytest.param(lambda fm: fm.fail_next(500, times=5), id="server error"),
        pytest.param(lambda fm: fm.fail_next(429, times=5), id="rate limited"),
    ],
)
async def test_no_device_is_removed_while_the_server_cannot_tell(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    fake_fm: FakeFlexMeasures,
    trouble: Any,
) -> None:
    entry = await _set_up(hass, fake_fm)
    device = _device(hass, entry, SUBENTRY_ID)
    trouble(fake_fm)

    response = await _remove(hass, hass_ws_client, device.id)

    assert _refused_by_the_integration(response), response
    assert dr.async_get(hass).async_get(device.id) is not None
    assert SUBENTRY_ID in entry.subentries


async def test_the_account_device_cannot_be_removed(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, fake_fm: FakeFlexMeasures
) -> None:
    entry = await _set_up(hass, fake_fm)
    account = _device(hass, entry, entry.entry_id)
    fake_fm.sensors.clear()  # even with nothing left on the server

    response = await _remove(hass, hass_ws_client, account.id)

    assert _refused_by_the_integration(response), response
    assert dr.async_get(hass).async_get(account.id) is not None
    assert entry.state is ConfigEntryState.LOADED


async def test_a_device_of_an_unloaded_entry_cannot_be_removed(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, fake_fm: FakeFlexMeasures
) -> None:
    """Without the loaded entry's client there is no asking the server."""
    entry = await _set_up(hass, fake_fm)
    device = _device(hass, entry, SUBENTRY_ID)
    assert await hass.config_entries.async_unload(entry.entry_id)
    fake_fm.sensors.pop(8)

    response = await _remove(hass, hass_ws_client, device.id)

    assert _refused_by_the_integration(response), response
    assert SUBENTRY_ID in entry.subentries


async def test_a_device_left_without_its_sub_entry_can_be_removed(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, fake_fm: FakeFlexMeasures
) -> None:
    """A device of this entry that no sub-entry stands for has nothing behind it."""
    entry = await _set_up(hass, fake_fm)
    leftover = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, "01JGONESUBENTRY000000000")},
    )
    requests = len(fake_fm.requests)

    response = await _remove(hass, hass_ws_client, leftover.id)

    assert response["success"], response
    assert dr.async_get(hass).async_get(leftover.id) is None
    assert len(fake_fm.requests) == requests  # nothing to ask the server
    assert SUBENTRY_ID in entry.subentries


async def test_a_measurement_device_whose_sensor_is_gone_can_be_removed(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, fake_fm: FakeFlexMeasures
) -> None:
    hass.states.async_set("sensor.house_power", "1200", {"unit_of_measurement": "W"})
    entry = await _set_up(
        hass,
        fake_fm,
        ConfigSubentryData(
            data={"entity_id": "sensor.house_power", "sensor": "9"},
            subentry_id=MEASUREMENT_ID,
            subentry_type="measurement",
            title="House power",
            unique_id="sensor.house_power",
        ),
    )
    device = _device_of(hass, entry, MEASUREMENT_ID)

    assert _refused_by_the_integration(await _remove(hass, hass_ws_client, device.id))
    fake_fm.sensors.pop(9)
    response = await _remove(hass, hass_ws_client, device.id)

    assert response["success"], response
    assert MEASUREMENT_ID not in entry.subentries
    assert SUBENTRY_ID in entry.subentries


async def test_a_device_of_a_sub_entry_type_without_a_sensor_stays(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, fake_fm: FakeFlexMeasures
) -> None:
    """Only a device that stands for one FlexMeasures sensor can be checked."""
    entry = await _set_up(
        hass,
        fake_fm,
        ConfigSubentryData(
            data={"asset": "6"},
            subentry_id=OTHER_ID,
            subentry_type="future_type",
            title="Something else",
            unique_id="6",
        ),
    )
    device = _device_of(hass, entry, OTHER_ID)
    fake_fm.sensors.clear()

    response = await _remove(hass, hass_ws_client, device.id)

    assert _refused_by_the_integration(response), response
    assert OTHER_ID in entry.subentries
