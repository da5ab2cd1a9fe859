"""Review of issue 14 (the actions as a first-time user meets them): faults found.

Each test was marked xfail(strict=True) with the defect as its reason: it
failed on the code as it was and passes with the fix (the marks went with the
fixes).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.json import json_bytes
import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.services import MAX_SOC_TARGETS

from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import NOW, entity_id
from .test_services_schedule import call, device_id, entry  # noqa: F401

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]

# Home Assistant's recorder drops all attributes of a state above this.
MAX_STATE_ATTRS_BYTES = 16384


def every_five_minutes(count: int, zone: tzinfo = UTC) -> list[dict[str, Any]]:
    """`count` targets of 300 kWh, five minutes apart from NOW, in `zone`."""
    return [
        {
            "datetime": (NOW + timedelta(minutes=5 * (i + 1)))
            .astimezone(zone)
            .isoformat(),
            "value": 300,
        }
        for i in range(count)
    ]


async def trigger_with(hass: HomeAssistant, targets: list[dict[str, Any]]) -> None:
    """The device's trigger_schedule action with these soc_targets."""
    await call(
        hass,
        "trigger_schedule",
        {"device_id": device_id(hass), "soc_targets": targets},
    )


def last_model(fake_fm: FakeFlexMeasures) -> dict[str, Any]:
    """The flex-model of the last job the fake server got."""
    model = list(fake_fm.jobs.values())[-1].payload["flex-model"]
    return model[0] if isinstance(model, list) else model


@pytest.mark.parametrize("value", ["80%", "80 %"])
async def test_a_percentage_target_goes_to_flexmeasures_as_energy(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    entry: MockConfigEntry,  # noqa: F811
    value: str,
) -> None:
    """80% of the 450 kWh capacity is sent as 360 kWh."""
    await call(
        hass,
        "trigger_schedule",
        {
            "device_id": device_id(hass),
            "soc_targets": [{"datetime": "2026-11-23T12:00:00+01:00", "value": value}],
        },
    )
    assert last_model(fake_fm)["soc-targets"][0]["value"] == "360 kWh"


@pytest.mark.parametrize(
    ("service", "data", "field"),
    [
        (
            "post_measurements",
            {
                "sensor_id": 9,
                "start": "2026-11-22T10:00:00+01:00",
                "values": [1.0],
                "unit": "kW",
            },
            "Duration",
        ),
        (
            "trigger_schedule",
            {"soc_targets": {"datetime": "2026-11-23T12:00:00+01:00", "value": 300}},
            "State of charge targets",
        ),
        (
            "trigger_schedule",
            {"soc_targets": [{"datetime": "tomorrow 7:00", "value": 300}]},
            "State of charge targets",
        ),
        ("trigger_schedule", {"soc_at_start": "40 kWh"}, "State of charge at start"),
        ("trigger_schedule", {"duration": 169}, "Planning horizon"),
        (
            "get_measurements",
            {"sensor_id": 9, "start": "tomorrow", "duration": "24:00:00"},
            "Start",
        ),
    ],
    ids=[
        "post_without_duration_or_resolution",
        "targets_one_object",
        "target_time_not_a_time",
        "soc_at_start_quantity",
        "horizon_above_a_week",
        "start_not_a_time",
    ],
)
async def test_schema_errors_name_fields_as_the_action_ui_shows_them(
    hass: HomeAssistant,
    entry: MockConfigEntry,  # noqa: F811
    service: str,
    data: dict[str, Any],
    field: str,
) -> None:
    """What the UI shows (str(err)) names the field in its own words, no repr."""
    if service == "trigger_schedule":
        data = {"device_id": device_id(hass), **data}
    else:
        data = {"config_entry_id": entry.entry_id, **data}
    with pytest.raises((probatio.Invalid, HomeAssistantError)) as err:
        await call(hass, service, data)
    message = str(err.value)
    assert field in message, message
    for python in ("'", "[", "{", "datetime."):
        assert python not in message, message


async def test_many_targets_keep_the_setpoint_recordable(
    hass: HomeAssistant,
    entry: MockConfigEntry,  # noqa: F811
) -> None:
    """Refused, or the recorded attributes stay under 16 KB."""
    targets = every_five_minutes(1000)
    try:
        await trigger_with(hass, targets)
    except ServiceValidationError:
        return
    state = hass.states.get(entity_id(hass, "sensor", "power_setpoint"))
    assert state is not None
    recorded = {k: v for k, v in state.attributes.items() if k != "schedule"}
    assert len(json_bytes(recorded)) <= MAX_STATE_ATTRS_BYTES


async def test_the_most_targets_allowed_are_taken_and_stay_recordable(
    hass: HomeAssistant,
    entry: MockConfigEntry,  # noqa: F811
) -> None:
    """MAX_SOC_TARGETS targets are taken and shown; one more is refused."""
    targets = every_five_minutes(MAX_SOC_TARGETS + 1)
    with pytest.raises(ServiceValidationError) as err:
        await trigger_with(hass, targets)
    assert err.value.translation_key == "too_many_soc_targets"
    assert str(err.value).startswith("State of charge targets")
    await trigger_with(hass, targets[:MAX_SOC_TARGETS])
    state = hass.states.get(entity_id(hass, "sensor", "power_setpoint"))
    assert state is not None
    assert len(state.attributes["soc_targets"]) == MAX_SOC_TARGETS
    recorded = {k: v for k, v in state.attributes.items() if k != "schedule"}
    assert len(json_bytes(recorded)) <= MAX_STATE_ATTRS_BYTES


async def test_a_target_given_twice_counts_once_towards_the_most_allowed(
    hass: HomeAssistant,
    entry: MockConfigEntry,  # noqa: F811
) -> None:
    """MAX_SOC_TARGETS targets, one given twice (in another offset): taken."""
    targets = every_five_minutes(MAX_SOC_TARGETS)
    first = datetime.fromisoformat(targets[0]["datetime"])
    again = first.astimezone(timezone(timedelta(hours=1)))
    targets.append({"datetime": again.isoformat(), "value": 300})
    await trigger_with(hass, targets)
    state = hass.states.get(entity_id(hass, "sensor", "power_setpoint"))
    assert state is not None
    assert len(state.attributes["soc_targets"]) == MAX_SOC_TARGETS


async def test_too_many_targets_says_how_many_targets_were_given(
    hass: HomeAssistant,
    entry: MockConfigEntry,  # noqa: F811
) -> None:
    """One target too many, each of the others given twice: 101 targets, not 201."""
    targets = [
        *every_five_minutes(MAX_SOC_TARGETS),
        *every_five_minutes(MAX_SOC_TARGETS, timezone(timedelta(hours=1))),
        every_five_minutes(MAX_SOC_TARGETS + 1)[-1],
    ]
    with pytest.raises(ServiceValidationError) as err:
        await trigger_with(hass, targets)
    assert err.value.translation_key == "too_many_soc_targets"
    assert err.value.translation_placeholders == {
        "count": str(MAX_SOC_TARGETS + 1),
        "max": str(MAX_SOC_TARGETS),
    }


@pytest.mark.parametrize(
    "targets",
    [
        [{"datetime": "2026-11-22T12:00:00+01:00", "value": 300}],
        [
            {"datetime": "2026-11-23T12:00:00+01:00", "value": 300},
            {"datetime": "2026-11-23T11:00:00+00:00", "value": 400},
        ],
    ],
    ids=["target_in_the_past", "two_values_for_one_time"],
)
async def test_pointless_or_contradicting_targets_are_refused(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    entry: MockConfigEntry,  # noqa: F811
    targets: list[dict[str, Any]],
) -> None:
    """A ServiceValidationError that names the field; nothing is triggered."""
    jobs = len(fake_fm.jobs)
    with pytest.raises(ServiceValidationError) as err:
        await trigger_with(hass, targets)
    assert err.value.translation_domain == DOMAIN
    assert str(err.value).startswith("State of charge targets")
    assert len(fake_fm.jobs) == jobs


async def test_the_fake_server_refuses_a_percentage_target_as_the_real_one(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    entry: MockConfigEntry,  # noqa: F811
) -> None:
    """A "80%" that reaches FlexMeasures (here through flex_model) is refused.

    The real server's answer (tests/e2e/test_actions_faults_e2e.py without the
    fix): "value: Cannot convert value `80%` to 'MWh'".
    """
    target = {"datetime": "2026-11-23T12:00:00+01:00", "value": "80%"}
    jobs = len(fake_fm.jobs)
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass,
            "trigger_schedule",
            {"device_id": device_id(hass), "flex_model": {"soc-targets": [target]}},
        )
    assert "Cannot convert value `80%` to 'MWh'" in str(err.value)
    assert len(fake_fm.jobs) == jobs
