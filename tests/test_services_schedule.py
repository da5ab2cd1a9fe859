"""The schedule actions: flexmeasures.trigger_schedule and flexmeasures.get_schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.services import schedule_response

from .common import setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    STEP_START,
    SUBENTRY_ID,
    coordinator_of,
    entity_id,
    fake_value,
    fire_at,
    make_entry,
    set_soc,
    unload_entry,
)

pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]


@pytest.fixture
async def entry(hass: HomeAssistant, fake_fm: FakeFlexMeasures) -> MockConfigEntry:
    """The toy account with the "Home battery" schedule device, loaded."""
    set_soc(hass, "200", "kWh")
    config_entry = make_entry(fake_fm)
    await setup_integration(hass, config_entry)
    return config_entry


def device_id(hass: HomeAssistant) -> str:
    """The id of the "Home battery" schedule device."""
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, SUBENTRY_ID), entry.entry_id
    )
    assert device is not None
    return device.id


async def call(
    hass: HomeAssistant, service: str, data: dict[str, Any], *, response: bool = True
) -> Any:
    """Call a flexmeasures action and return its response."""
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=response
    )


async def test_trigger_schedule_returns_the_new_schedule_and_updates_entities(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, entry: MockConfigEntry
) -> None:
    """The response is plain JSON; the setpoint follows the new schedule."""
    before = coordinator_of(entry).data
    values = [7.0, 7.0, -3.0] + [0.0] * 93
    fake_fm.job_pending_polls = 1

    # The next job answers with these values.
    original = fake_fm.add_job

    def add_job(*args: Any, **kwargs: Any) -> str:
        return original(*args, **{**kwargs, "values": values})

    fake_fm.add_job = add_job  # type: ignore[method-assign]
    response = await call(
        hass,
        "trigger_schedule",
        {
            "device_id": device_id(hass),
            "soc_at_start": 120,
            "soc_targets": [{"datetime": "2026-11-23T12:00:00+01:00", "value": 400}],
            "duration": 24,
            "flex_model": {"soc-max": "400 kWh"},
            "flex_context": {"production-price": {"sensor": 7}},
        },
    )

    schedule = coordinator_of(entry).data
    assert schedule is not None
    assert before is not None
    assert schedule.job_id != before.job_id
    # every time in Home Assistant's time zone (US/Pacific in tests), with its
    # offset; the merged segments first, then the steps
    assert response == {
        "schedule": [
            {
                "start": "2026-11-22T21:30:00-08:00",
                "end": "2026-11-22T22:00:00-08:00",
                "value": 7.0,
            },
            {
                "start": "2026-11-22T22:00:00-08:00",
                "end": "2026-11-22T22:15:00-08:00",
                "value": -3.0,
            },
            {
                "start": "2026-11-22T22:15:00-08:00",
                "end": "2026-11-23T21:30:00-08:00",
                "value": 0.0,
            },
        ],
        "start": "2026-11-22T21:30:00-08:00",
        "resolution": "PT15M",
        "unit": "kW",
        "sign_convention": "consumption_positive",
        "values": values,
    }
    assert next(iter(response)) == "schedule"
    state = hass.states.get(entity_id(hass, "sensor", "power_setpoint"))
    assert state is not None
    assert float(state.state) == 7.0
    payload = list(fake_fm.jobs.values())[-1].payload
    model = payload["flex-model"]
    model = model[0] if isinstance(model, list) else model
    assert model["soc-at-start"] == "120 kWh"
    assert model["soc-max"] == "400 kWh"  # the override wins
    assert model["soc-targets"] == [
        {"datetime": "2026-11-23T11:00:00+00:00", "value": "400 kWh"}
    ]
    assert payload["flex-context"] == {
        "consumption-price": {"sensor": 7},
        "production-price": {"sensor": 7},
    }


async def test_trigger_schedule_without_response_still_updates(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Called from an automation without response_variable: no response."""
    before = coordinator_of(entry).data
    assert (
        await call(
            hass, "trigger_schedule", {"device_id": device_id(hass)}, response=False
        )
        is None
    )
    after = coordinator_of(entry).data
    assert after is not None
    assert before is not None
    assert after.job_id != before.job_id


async def test_get_schedule_returns_the_current_schedule(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """get_schedule answers from the kept schedule, without a request."""
    schedule = coordinator_of(entry).data
    assert schedule is not None

    response = await call(hass, "get_schedule", {"device_id": device_id(hass)})

    assert response == schedule_response(schedule)
    assert response["values"][:3] == [fake_value(i) for i in range(3)]
    assert response["resolution"] == "PT15M"
    assert response["schedule"][0]["start"] == "2026-11-22T21:30:00-08:00"
    assert response["sign_convention"] == "consumption_positive"
    # the entity attribute stays in UTC (for charts)
    state = hass.states.get(entity_id(hass, "sensor", "power_setpoint"))
    assert state is not None
    assert state.attributes["schedule"][0]["start"] == STEP_START.isoformat()


async def test_get_schedule_without_a_schedule_says_so(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """No schedule yet (e.g. infeasible): a translated error."""
    fake_fm.job_fail_reason = "InfeasibleProblemException"
    set_soc(hass)
    config_entry = make_entry(fake_fm)
    await setup_integration(hass, config_entry)

    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "get_schedule", {"device_id": device_id(hass)})

    assert err.value.translation_key == "no_schedule"
    assert err.value.translation_placeholders == {"device": "Home battery"}


async def test_trigger_schedule_server_failure_is_translated(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, entry: MockConfigEntry
) -> None:
    """An infeasible schedule is a HomeAssistantError with the reason."""
    fake_fm.job_fail_reason = "InfeasibleProblemException: target too high"

    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "trigger_schedule", {"device_id": device_id(hass)})

    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_key == "schedule_failed"
    assert "target too high" in str(err.value)


async def test_unknown_device_is_refused(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """A device id that does not exist."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_schedule", {"device_id": "nope"})
    assert err.value.translation_key == "service_device_not_found"


async def test_account_device_is_not_a_schedule_device(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """The server/account device has no schedule."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert device is not None
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "trigger_schedule", {"device_id": device.id})
    assert err.value.translation_key == "not_a_schedule_device"
    assert err.value.translation_placeholders == {"device": "Toy Account"}


async def test_other_integrations_device_is_refused(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """A device of another integration is refused the same way."""
    other = MockConfigEntry(domain="demo")
    other.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("demo", "x")}, name="Inverter"
    )
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_schedule", {"device_id": device.id})
    assert err.value.translation_key == "service_device_wrong_domain"


async def test_device_of_unloaded_entry_is_refused(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """The device stays in the registry while its entry is unloaded."""
    device = device_id(hass)
    await unload_entry(hass, entry)
    assert entry.state is ConfigEntryState.NOT_LOADED

    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_schedule", {"device_id": device})
    assert err.value.translation_key == "service_config_entry_not_loaded"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"soc_at_start": 20}, "soc_at_start_out_of_range"),
        ({"soc_at_start": 451}, "soc_at_start_out_of_range"),
        (
            {"soc_targets": [{"datetime": "2026-11-23T12:00:00+01:00", "value": 900}]},
            "soc_target_out_of_range",
        ),
        (
            {
                "soc_targets": [
                    {"datetime": "2026-11-23T12:00:00+01:00", "value": "0.5 MWh"}
                ]
            },
            "soc_target_out_of_range",
        ),
        (
            {"soc_targets": [{"datetime": "2026-11-23T12:00:00", "value": 300}]},
            "naive_soc_target",
        ),
        (
            {
                "soc_targets": [
                    {"datetime": "2026-11-23T12:00:00+01:00", "value": "300 kW"}
                ]
            },
            "invalid_soc_target",
        ),
    ],
    ids=[
        "soc_below_min",
        "soc_above_max",
        "target_above_max",
        "target_quantity_above_max",
        "target_without_time_zone",
        "target_not_an_energy",
    ],
)
async def test_trigger_schedule_bad_input_is_refused_without_request(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    entry: MockConfigEntry,
    data: dict[str, Any],
    key: str,
) -> None:
    """Bad input is a translated ServiceValidationError; nothing is triggered."""
    jobs = len(fake_fm.jobs)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "trigger_schedule", {"device_id": device_id(hass), **data})
    assert err.value.translation_key == key
    assert err.value.translation_domain == DOMAIN
    assert len(fake_fm.jobs) == jobs


async def test_trigger_schedule_quantity_strings_go_to_flexmeasures_in_kwh(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, entry: MockConfigEntry
) -> None:
    """A target value like "0.4 MWh" is range-checked here and sent in kWh.

    FlexMeasures refuses a percentage in soc-targets; every quantity goes as
    the kWh it stands for, so one form reaches the server.
    """
    await call(
        hass,
        "trigger_schedule",
        {
            "device_id": device_id(hass),
            "soc_targets": [
                {"datetime": "2026-11-23T12:00:00+01:00", "value": "0.4 MWh"}
            ],
        },
    )
    model = list(fake_fm.jobs.values())[-1].payload["flex-model"]
    model = model[0] if isinstance(model, list) else model
    assert model["soc-targets"][0]["value"] == "400 kWh"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"duration": 0}, "invalid_horizon"),
        ({"duration": 0.5}, "invalid_horizon"),
        ({"duration": 169}, "invalid_horizon"),
        ({"duration": 1e9}, "invalid_horizon"),
        ({"duration": "inf"}, "invalid_horizon"),
        ({"duration": float("nan")}, "invalid_horizon"),
        ({"soc_at_start": "lots"}, "invalid_soc_at_start"),
        ({"soc_at_start": "nan"}, "invalid_soc_at_start"),
        ({"soc_at_start": float("inf")}, "invalid_soc_at_start"),
        (
            {
                "soc_targets": [
                    {"datetime": "2026-11-23T12:00:00+01:00", "value": "inf"}
                ]
            },
            "invalid_soc_targets",
        ),
        (
            {
                "soc_targets": [
                    {"datetime": "2026-11-23T12:00:00+01:00", "value": float("nan")}
                ]
            },
            "invalid_soc_targets",
        ),
        ({"clear_soc_targets": "maybe"}, "invalid_clear_soc_targets"),
        (
            {"soc_targets": [{"datetime": "tomorrow", "value": 300}]},
            "invalid_soc_targets",
        ),
        (
            {"soc_targets": [{"datetime": "2026-11-23T12:00:00+01:00"}]},
            "invalid_soc_targets",
        ),
        (
            {"soc_targets": {"datetime": "2026-11-23T12:00:00+01:00"}},
            "invalid_soc_targets",
        ),
        (
            {"soc_targets": [{"datetime": "2026-11-23T12:00:00+01:00", "value": None}]},
            "invalid_soc_targets",
        ),
        ({"flex_model": ["soc-max", "400 kWh"]}, "invalid_flex_model"),
        ({"flex_model": "soc-max: 400 kWh"}, "invalid_flex_model"),
        ({"flex_context": {1: "x"}}, "invalid_flex_context"),
        ({"soc_max": 400}, "unknown_field"),
    ],
    ids=[
        "zero_duration",
        "half_an_hour",
        "above_a_week",
        "1e9_hours",
        "infinite_duration",
        "nan_duration",
        "soc_not_a_number",
        "soc_nan",
        "soc_infinite",
        "target_infinite",
        "target_nan",
        "clear_not_a_boolean",
        "target_not_a_datetime",
        "target_without_value",
        "targets_not_a_list",
        "target_value_none",
        "flex_model_list",
        "flex_model_string",
        "flex_context_bad_keys",
        "unknown_field",
    ],
)
async def test_trigger_schedule_schema_refuses_malformed_input(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    entry: MockConfigEntry,
    data: dict[str, Any],
    key: str,
) -> None:
    """Input of the wrong shape fails the action's schema; nothing is triggered.

    The error is the field's translated one (not probatio's text).
    """
    jobs = len(fake_fm.jobs)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "trigger_schedule", {"device_id": device_id(hass), **data})
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    assert len(fake_fm.jobs) == jobs


@pytest.mark.parametrize("hours", [1, 168, "12"])
async def test_trigger_schedule_duration_within_a_week_is_accepted(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    entry: MockConfigEntry,
    hours: float | str,
) -> None:
    """1 to 168 hours, as services.yaml says."""
    await call(
        hass, "trigger_schedule", {"device_id": device_id(hass), "duration": hours}
    )
    payload = list(fake_fm.jobs.values())[-1].payload
    assert payload["duration"] == {1: "PT1H", 168: "P7D", "12": "PT12H"}[hours]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"soc_at_start": 20},
            (
                "State of charge at start: 20 kWh is outside the device's state of "
                "charge range (50 to 450 kWh)"
            ),
        ),
        (
            {"soc_targets": [{"datetime": "2026-11-23T12:00:00+01:00", "value": 900}]},
            (
                "State of charge targets: 900 kWh is outside the device's state of "
                "charge range (50 to 450 kWh)"
            ),
        ),
        (
            {"soc_targets": [{"datetime": "2026-11-23T12:00:00", "value": 300}]},
            (
                "State of charge targets: 2026-11-23T12:00:00 needs a time zone, for "
                "example 2026-11-22T10:00:00+01:00"
            ),
        ),
        (
            {
                "soc_targets": [
                    {"datetime": "2026-11-23T12:00:00+01:00", "value": "lots"}
                ]
            },
            (
                "State of charge targets: lots is not a state of charge (a number of "
                'kWh, or a quantity such as "40 kWh" or "80%")'
            ),
        ),
    ],
    ids=["soc_at_start", "target", "target_time", "target_value"],
)
async def test_errors_name_fields_as_the_action_ui_shows_them(
    hass: HomeAssistant, entry: MockConfigEntry, data: dict[str, Any], message: str
) -> None:
    """The field's name in the action's UI, never a key or a Python object.

    (Home Assistant leaves out the message's final full stop.)
    """
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "trigger_schedule", {"device_id": device_id(hass), **data})
    assert str(err.value) == message
    assert "soc_" not in str(err.value)
    assert "{" not in str(err.value)


def setpoint_attributes(hass: HomeAssistant) -> dict[str, Any]:
    """The power setpoint's attributes."""
    state = hass.states.get(entity_id(hass, "sensor", "power_setpoint"))
    assert state is not None
    return dict(state.attributes)


async def test_targets_in_force_are_shown_on_the_setpoint(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """soc_targets: [{datetime (UTC), value (kWh)}] until each target's time passes."""
    assert setpoint_attributes(hass)["soc_targets"] == []
    await call(
        hass,
        "trigger_schedule",
        {
            "device_id": device_id(hass),
            "soc_targets": [
                {"datetime": "2026-11-23T08:00:00+01:00", "value": "0.3 MWh"},
                {"datetime": "2026-11-23T12:00:00+01:00", "value": 400},
                {"datetime": "2026-11-23T13:00:00+01:00", "value": "80%"},
            ],
        },
    )
    assert setpoint_attributes(hass)["soc_targets"] == [
        {"datetime": "2026-11-23T07:00:00+00:00", "value": 300.0},
        {"datetime": "2026-11-23T11:00:00+00:00", "value": 400.0},
        {"datetime": "2026-11-23T12:00:00+00:00", "value": 360.0},  # of 450 kWh
    ]

    # the first target's time passes: no longer in force
    await fire_at(hass, freezer, datetime(2026, 11, 23, 7, 0, tzinfo=UTC))
    assert [t["value"] for t in setpoint_attributes(hass)["soc_targets"]] == [
        400.0,
        360.0,
    ]


async def test_clear_soc_targets_drops_the_kept_targets(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, entry: MockConfigEntry
) -> None:
    """A boolean the action UI can send; given targets still apply after it."""
    target = {"datetime": "2026-11-23T12:00:00+01:00", "value": 400}
    await call(
        hass,
        "trigger_schedule",
        {"device_id": device_id(hass), "soc_targets": [target]},
    )
    assert len(coordinator_of(entry).soc_targets) == 1

    await call(
        hass,
        "trigger_schedule",
        {"device_id": device_id(hass), "clear_soc_targets": True},
    )
    assert coordinator_of(entry).soc_targets == ()
    assert setpoint_attributes(hass)["soc_targets"] == []
    model = list(fake_fm.jobs.values())[-1].payload["flex-model"][0]
    assert "soc-targets" not in model
    # the next periodic update sends none either
    await coordinator_of(entry).async_refresh()
    assert "soc-targets" not in list(fake_fm.jobs.values())[-1].payload["flex-model"][0]

    other = {"datetime": "2026-11-23T14:00:00+01:00", "value": 300}
    await call(
        hass,
        "trigger_schedule",
        {"device_id": device_id(hass), "soc_targets": [target]},
    )
    await call(
        hass,
        "trigger_schedule",
        {
            "device_id": device_id(hass),
            "clear_soc_targets": True,
            "soc_targets": [other],
        },
    )
    assert setpoint_attributes(hass)["soc_targets"] == [
        {"datetime": "2026-11-23T13:00:00+00:00", "value": 300.0}
    ]
    # without clear_soc_targets (false): the kept targets stay
    await call(
        hass,
        "trigger_schedule",
        {"device_id": device_id(hass), "clear_soc_targets": False},
    )
    assert len(coordinator_of(entry).soc_targets) == 1


async def test_the_standing_target_is_among_the_targets_in_force(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """target_soc by ready_by goes into every job: the setpoint shows it too."""
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": entity_id(hass, "number", "target_soc"), "value": 80},
        blocking=True,
    )
    freezer.tick(timedelta(seconds=4))  # the controls' debounce
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    # ready_by 07:00 in Home Assistant's time zone (US/Pacific in tests)
    standing = {"datetime": "2026-11-23T15:00:00+00:00", "value": 360.0}
    assert setpoint_attributes(hass)["soc_targets"] == [standing]

    await call(
        hass,
        "trigger_schedule",
        {
            "device_id": device_id(hass),
            "soc_targets": [{"datetime": "2026-11-23T12:00:00+01:00", "value": 400}],
        },
    )
    assert setpoint_attributes(hass)["soc_targets"] == [
        {"datetime": "2026-11-23T11:00:00+00:00", "value": 400.0},
        standing,
    ]
