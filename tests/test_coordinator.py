"""The schedule coordinator against the fake FlexMeasures server."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import (
    REQUEST_REFRESH_DEFAULT_COOLDOWN,
    UpdateFailed,
)
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.coordinator import SOC_RETRY_AFTER
from custom_components.flexmeasures.diagnostics import schedule_diagnostics
from custom_components.flexmeasures.requests import ScheduleSettings, SocTarget

from .common import setup_integration
from .fake_flexmeasures import FakeFlexMeasures
from .schedule_setup import (
    NOW,
    STEP_START,
    SUBENTRY_ID,
    coordinator_of,
    fake_value,
    make_entry,
    set_soc,
    unload_entry,
)

ISSUE_ID = f"schedule_failed_{SUBENTRY_ID}"


# Time moves on from NOW (the client's polling sleeps need a running clock).
pytestmark = [
    pytest.mark.freeze_time(NOW, tick=True),
    pytest.mark.usefixtures("fast_jobs_and_unload"),
]


def last_payload(fake_fm: FakeFlexMeasures) -> dict[str, object]:
    return list(fake_fm.jobs.values())[-1].payload


async def test_update_triggers_with_configured_flex_model_and_keeps_schedule(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass, "50", "%")
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)

    assert coordinator.last_update_success
    assert not coordinator.stale
    schedule = coordinator.data
    assert schedule is not None
    assert schedule.start == STEP_START
    assert schedule.unit == "kW"
    assert len(schedule.values) == 96
    assert schedule.values[:3] == (fake_value(0), fake_value(1), fake_value(2))
    assert coordinator.last_success is not None
    assert NOW <= coordinator.last_success < NOW + timedelta(seconds=30)
    assert coordinator.job_id == schedule.job_id
    # Through the asset of the power sensor (the sensor endpoint is deprecated).
    assert "/api/v3_0/assets/6/schedules/trigger" in fake_fm.paths()
    payload = last_payload(fake_fm)
    assert payload["start"] == STEP_START.isoformat()
    assert payload["duration"] == "P1D"
    assert payload["flex-model"] == [
        {
            "sensor": 8,
            "soc-at-start": "225 kWh",  # 50 % of 450 kWh
            "soc-min": "50 kWh",
            "soc-max": "450 kWh",
            "roundtrip-efficiency": "90%",
            "power-capacity": "500 kW",
        }
    ]
    # No production price configured: what is stored on the asset is used.
    assert payload["flex-context"] == {"consumption-price": {"sensor": 7}}


async def test_sensor_resolution_is_fetched_once(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    await coordinator.async_refresh()
    await coordinator.async_refresh()
    assert fake_fm.paths().count("/api/v3_0/sensors/8") == 1


async def test_pending_job_is_polled_until_done(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    fake_fm.job_pending_polls = 2
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    assert coordinator.last_update_success
    assert coordinator.data is not None
    job = fake_fm.jobs[coordinator.data.job_id]
    assert job.polls == 3


async def test_infeasible_schedule_creates_repair_issue_until_next_success(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_soc(hass)
    fake_fm.job_fail_reason = "InfeasibleProblemException: infeasible"
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)

    assert not coordinator.last_update_success
    assert coordinator.data is None
    assert coordinator.failure_reason is not None
    assert "InfeasibleProblemException" in coordinator.failure_reason
    assert isinstance(coordinator.last_exception, UpdateFailed)
    assert coordinator.last_exception.translation_key == "schedule_failed"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_ID)
    assert issue is not None
    assert issue.translation_key == "schedule_failed"
    assert not issue.is_fixable
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["device"] == "Home battery"
    assert "infeasible" in issue.translation_placeholders["reason"]
    assert "could not compute a schedule for Home battery" in caplog.text

    fake_fm.job_fail_reason = None
    await coordinator.async_refresh()
    assert coordinator.last_update_success
    assert coordinator.failure_reason is None
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_ID) is None


async def test_server_down_keeps_last_schedule_and_marks_stale(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    good = coordinator.data
    assert good is not None

    fake_fm.down = True
    freezer.tick(timedelta(minutes=15))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert coordinator.stale
    assert coordinator.data is good
    assert coordinator.covers_now()
    assert coordinator.last_error is not None
    assert coordinator.last_error.translation_key == "cannot_connect"
    assert isinstance(coordinator.last_exception, UpdateFailed)
    assert coordinator.last_exception.translation_key == "cannot_connect"
    # No repair issue for a connection problem.
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_ID) is None

    fake_fm.down = False
    await coordinator.async_refresh()
    assert not coordinator.stale
    assert coordinator.data is not good


async def test_schedule_expires_when_it_ends(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm, duration=1)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    assert coordinator.covers_now()
    fake_fm.down = True
    freezer.move_to(STEP_START + timedelta(hours=1))
    assert not coordinator.covers_now()


async def test_auth_failure_starts_reauth(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)

    fake_fm.users["toy-user@flexmeasures.io"]["password"] = "changed"
    fake_fm.expire_tokens()
    await coordinator.async_refresh()
    await hass.async_block_till_done()

    assert not coordinator.last_update_success
    assert coordinator.last_error is not None
    assert coordinator.last_error.translation_key == "invalid_auth"
    assert coordinator.last_error.placeholders == {"url": fake_fm.url}
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


@pytest.mark.parametrize(
    ("state", "unit", "expected"),
    [
        ("50", "%", "225 kWh"),
        ("120.5", "kWh", "120.5 kWh"),
        ("120500", "Wh", "120.5 kWh"),
        ("0.1205", "MWh", "120.5 kWh"),
        # Outside [soc_min, soc_max]: clamped, or FlexMeasures finds it infeasible.
        ("5", "%", "50 kWh"),
        ("500", "kWh", "450 kWh"),
    ],
)
async def test_state_of_charge_units(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    state: str,
    unit: str,
    expected: str,
) -> None:
    set_soc(hass, state, unit)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    assert coordinator_of(entry).last_update_success
    model = last_payload(fake_fm)["flex-model"]
    assert isinstance(model, list)
    assert model[0]["soc-at-start"] == expected


@pytest.mark.parametrize(
    ("state", "unit", "key"),
    [
        (None, None, "soc_unavailable"),
        ("unavailable", "%", "soc_unavailable"),
        ("unknown", "%", "soc_unavailable"),
        ("full", "%", "soc_unavailable"),
        ("50", "V", "soc_unit"),
        ("50", None, "soc_unit"),
    ],
)
async def test_unusable_state_of_charge_fails_the_update_without_a_request(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    state: str | None,
    unit: str | None,
    key: str,
) -> None:
    if state is not None:
        set_soc(hass, state, unit)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    assert not coordinator.last_update_success
    assert isinstance(coordinator.last_exception, UpdateFailed)
    assert coordinator.last_exception.translation_key == key
    assert not any("schedules/trigger" in path for path in fake_fm.paths())


def trigger_count(fake_fm: FakeFlexMeasures) -> int:
    return sum("schedules/trigger" in path for path in fake_fm.paths())


async def test_missing_soc_retries_after_a_minute(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    assert not coordinator.last_update_success
    first_try = coordinator.last_error_time
    assert first_try is not None

    # The entity never shows up: the update is tried again after a minute
    # (not only at the 15-minute update interval).
    freezer.tick(timedelta(seconds=SOC_RETRY_AFTER + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert coordinator.last_error_time is not None
    assert coordinator.last_error_time > first_try + timedelta(seconds=SOC_RETRY_AFTER)
    assert isinstance(coordinator.last_exception, UpdateFailed)
    assert coordinator.last_exception.translation_key == "soc_unavailable"


async def test_soc_entity_appearing_after_setup_updates_at_once(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    assert not coordinator.last_update_success
    assert coordinator.data is None
    failed_at = coordinator.last_error_time
    assert failed_at is not None

    # Loaded after this integration: first without a value, then with one.
    set_soc(hass, "unknown")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert coordinator.data is None
    assert trigger_count(fake_fm) == 0
    set_soc(hass, "50", "%")
    await hass.async_block_till_done(wait_background_tasks=True)

    # No time was fired: the state change itself brought the schedule.
    assert coordinator.last_update_success
    assert coordinator.data is not None
    assert trigger_count(fake_fm) == 1
    assert coordinator.last_success is not None
    assert coordinator.last_success - failed_at < timedelta(seconds=SOC_RETRY_AFTER)
    model = last_payload(fake_fm)["flex-model"]
    assert isinstance(model, list)
    assert model[0]["soc-at-start"] == "225 kWh"

    # Once there is a schedule, state changes no longer trigger one (also not
    # after the refresh debouncer's cool-down).
    freezer.tick(timedelta(seconds=REQUEST_REFRESH_DEFAULT_COOLDOWN + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    set_soc(hass, "60", "%")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert trigger_count(fake_fm) == 1


async def test_soc_entity_loading_later_at_start_up_is_awaited_quietly(
    hass: HomeAssistant,
    fake_fm: FakeFlexMeasures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While Home Assistant starts, a missing state of charge is no error."""
    hass.set_state(CoreState.starting)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    assert coordinator.data is None
    assert coordinator.last_update_success  # not stale: nothing failed
    assert coordinator.last_error is None
    assert "Error fetching" not in caplog.text
    assert trigger_count(fake_fm) == 0

    set_soc(hass, "50", "%")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert coordinator.data is not None
    assert trigger_count(fake_fm) == 1
    hass.set_state(CoreState.running)


async def test_soc_entity_is_not_tracked_after_unload(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    listeners_before = hass.bus.async_listeners().get(EVENT_STATE_CHANGED, 0)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    assert not coordinator.last_update_success
    tracking = hass.bus.async_listeners().get(EVENT_STATE_CHANGED, 0)
    assert tracking > listeners_before
    await unload_entry(hass, entry)
    assert hass.bus.async_listeners().get(EVENT_STATE_CHANGED, 0) == listeners_before

    set_soc(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert trigger_count(fake_fm) == 0
    assert coordinator.data is None


async def test_soc_entity_is_not_tracked_after_another_failure(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    set_soc(hass, "50", "V")  # a value in the wrong unit: a different failure
    await hass.async_block_till_done(wait_background_tasks=True)
    assert isinstance(coordinator.last_exception, UpdateFailed)
    assert coordinator.last_exception.translation_key == "soc_unit"

    # Only soc_unavailable waits for the entity; a unit problem needs the user.
    freezer.tick(timedelta(seconds=15))
    set_soc(hass, "50", "%")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not coordinator.last_update_success
    assert trigger_count(fake_fm) == 0


async def test_percentage_without_capacity_is_refused(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass, "50", "%")
    entry = make_entry(fake_fm, capacity=None)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    assert isinstance(coordinator.last_exception, UpdateFailed)
    assert coordinator.last_exception.translation_key == "soc_unit"


async def test_minimal_settings_always_send_soc_min(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    entry = make_entry(
        fake_fm,
        soc_entity="",
        consumption_price_sensor="",
        soc_min=None,
        soc_max=None,
        capacity=None,
        roundtrip_efficiency=None,
        power_capacity=None,
    )
    await setup_integration(hass, entry)
    assert coordinator_of(entry).last_update_success
    payload = last_payload(fake_fm)
    # nothing known of the state of charge: it starts at the minimum (0 kWh)
    assert payload["flex-model"] == [
        {"sensor": 8, "soc-at-start": "0 kWh", "soc-min": "0 kWh"}
    ]
    assert "flex-context" not in payload


async def test_without_soc_entity_the_schedule_starts_at_the_minimum(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    """soc_min 50 and no state of charge entity: soc-at-start 50 kWh is sent.

    Without it FlexMeasures starts at 0 kWh, and a device that cannot reach
    the minimum in the first step is infeasible (tests/e2e shows it).
    """
    entry = make_entry(fake_fm, soc_entity="")
    await setup_integration(hass, entry)
    assert coordinator_of(entry).last_update_success
    model = last_payload(fake_fm)["flex-model"]
    assert isinstance(model, list)
    assert model[0]["soc-at-start"] == "50 kWh"
    assert model[0]["soc-min"] == "50 kWh"


async def test_schedule_in_mw_is_converted_to_kw(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    fake_fm.sensors[8]["unit"] = "MW"
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    schedule = coordinator_of(entry).data
    assert schedule is not None
    assert schedule.unit == "kW"
    assert schedule.values[0] == fake_value(0) * 1000


async def test_trigger_with_overrides_updates_data_and_keeps_targets(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    listened: list[None] = []
    coordinator.async_add_listener(lambda: listened.append(None))

    target_time = STEP_START + timedelta(hours=3)
    far_target = STEP_START + timedelta(hours=30)
    schedule = await coordinator.async_trigger(
        soc_at_start="300 kWh",
        soc_targets=[
            SocTarget(target_time, "400 kWh"),
            SocTarget(far_target, "400 kWh"),
        ],
        duration=timedelta(hours=12),
        flex_model={"soc-max": "400 kWh"},
        flex_context={"production-price": {"sensor": 7}},
    )

    assert coordinator.data is schedule
    assert listened
    assert len(schedule.values) == 48
    payload = last_payload(fake_fm)
    assert payload["duration"] == "PT12H"
    assert payload["force-new-job-creation"] is True
    model = payload["flex-model"]
    assert isinstance(model, list)
    assert model[0]["soc-at-start"] == "300 kWh"
    assert model[0]["soc-max"] == "400 kWh"
    # Only the target inside the 12 h horizon is sent...
    assert model[0]["soc-targets"] == [
        {"datetime": target_time.isoformat(), "value": "400 kWh"}
    ]
    assert payload["flex-context"] == {
        "consumption-price": {"sensor": 7},
        "production-price": {"sensor": 7},
    }
    # ...both are kept, and honoured by the next periodic update (24 h).
    await coordinator.async_refresh()
    model = last_payload(fake_fm)["flex-model"]
    assert isinstance(model, list)
    assert model[0]["soc-at-start"] == "225 kWh"
    assert model[0]["soc-max"] == "450 kWh"
    assert [t["datetime"] for t in model[0]["soc-targets"]] == [target_time.isoformat()]
    # An empty list clears them.
    await coordinator.async_trigger(soc_targets=[])
    assert "soc-targets" not in last_payload(fake_fm)["flex-model"][0]  # type: ignore[index]


async def test_trigger_rejected_override_is_a_validation_error(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    fake_fm.fail_next(422)
    with pytest.raises(ServiceValidationError) as err:
        await coordinator.async_trigger(flex_model={"soc-foo": "1 kWh"})
    assert err.value.translation_key == "request_rejected"
    # A failed action does not mark the kept schedule stale.
    assert not coordinator.stale


async def test_trigger_failures_are_raised_translated(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)

    fake_fm.fail_next(500)
    with pytest.raises(HomeAssistantError) as err:
        await coordinator.async_trigger()
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_key == "api_error"

    fake_fm.fail_next(429)
    with pytest.raises(HomeAssistantError) as err:
        await coordinator.async_trigger()
    assert err.value.translation_key == "rate_limited"

    fake_fm.job_fail_reason = "InfeasibleProblemException: infeasible"
    with pytest.raises(HomeAssistantError) as err:
        await coordinator.async_trigger()
    assert err.value.translation_key == "schedule_failed"
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_ID) is not None


async def test_unknown_power_sensor_is_reported(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm, power_sensor="999")
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    assert isinstance(coordinator.last_exception, UpdateFailed)
    assert coordinator.last_exception.translation_key == "sensor_not_accessible"


async def test_step_boundaries_notify_listeners_without_api_calls(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures, freezer: FrozenDateTimeFactory
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    calls: list[None] = []
    coordinator.async_add_listener(lambda: calls.append(None))
    requests = len(fake_fm.requests)

    freezer.move_to(STEP_START + timedelta(minutes=15))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert len(calls) == 1
    freezer.move_to(STEP_START + timedelta(minutes=30))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert len(calls) == 2
    assert len(fake_fm.requests) == requests


async def test_diagnostics_summary(
    hass: HomeAssistant, fake_fm: FakeFlexMeasures
) -> None:
    set_soc(hass)
    entry = make_entry(fake_fm)
    await setup_integration(hass, entry)
    coordinator = coordinator_of(entry)
    diagnostics = schedule_diagnostics(coordinator)
    assert diagnostics["subentry_id"] == SUBENTRY_ID
    assert diagnostics["stale"] is False
    assert diagnostics["last_success"] == coordinator.last_success.isoformat()  # type: ignore[union-attr]
    assert diagnostics["last_error"] is None
    assert diagnostics["job_id"] == coordinator.job_id
    assert diagnostics["schedule"] == {
        "job_id": coordinator.job_id,
        "start": STEP_START.isoformat(),
        "end": (STEP_START + timedelta(hours=24)).isoformat(),
        "resolution_seconds": 900.0,
        "steps": 96,
        "unit": "kW",
        "covers_now": True,
    }
    assert diagnostics["settings"]["power_sensor_id"] == 8


def test_settings_defaults() -> None:
    settings = ScheduleSettings.from_data({"power_sensor": "8"})
    assert settings.duration == timedelta(hours=24)
    assert settings.update_interval == timedelta(minutes=15)
    assert settings.consumption_price_sensor_id is None
    assert settings.soc_entity is None
