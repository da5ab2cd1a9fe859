"""Site jobs: several devices of one asset scheduled in one job.

The client's `trigger_asset_schedule` against the fake server, the fake's
several-device jobs, and the real server's recorded answer to such a job
(tests/fixtures/site_schedule, made by scripts/record_site_schedule.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import re
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.flexmeasures.api import (
    FlexMeasuresAccessDeniedError,
    FlexMeasuresClient,
    FlexMeasuresInvalidRequestError,
    FlexMeasuresNotFoundError,
    FlexMeasuresScheduleFailedError,
)
from custom_components.flexmeasures.api.models import parse_datetime, parse_duration
from custom_components.flexmeasures.requests import asset_flex_models

from .const import (
    TOY_BATTERY_ASSET_ID,
    TOY_BATTERY_SENSOR_ID,
    TOY_BUILDING_ASSET_ID,
    TOY_EV_SENSOR_ID,
)
from .fake_flexmeasures import COMMITMENT_COSTS, Answer, FakeFlexMeasures, default_part

START = datetime(2026, 11, 23, tzinfo=UTC)
STEP = timedelta(minutes=15)
BATTERY = TOY_BATTERY_SENSOR_ID
EV = TOY_EV_SENSOR_ID
SOLAR = 9  # below the building too, but no device of a site
OTHER_ASSET, OTHER_SENSOR = 8, 10  # the other account's
FIXTURES = Path(__file__).parent / "fixtures" / "site_schedule"


def _models(*sensors: int) -> list[dict[str, Any]]:
    return [{"sensor": sensor, "soc-at-start": "10 kWh"} for sensor in sensors]


async def _post_raw(
    fake: FakeFlexMeasures, client: FlexMeasuresClient, body: Any
) -> tuple[int, Any]:
    """Post a trigger body to the building as it is (the client would refuse it)."""
    await client.login()
    async with client._session.post(
        f"{fake.url}/api/v3_0/assets/{TOY_BUILDING_ASSET_ID}/schedules/trigger",
        json=body,
        headers={"Authorization": client._token or ""},
    ) as resp:
        return resp.status, await resp.json()


def _fixture(name: str) -> dict[str, Any]:
    (path,) = FIXTURES.glob(f"[0-9][0-9]_{name}.json")
    exchange: dict[str, Any] = json.loads(path.read_text())
    return exchange


# --- the request ----------------------------------------------------------------


async def test_one_job_with_one_flex_model_per_device_and_the_sites_context(
    fake_fm_site: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """POST /assets/<id>/schedules/trigger with the list as given, and the context."""
    battery = {
        "sensor": BATTERY,
        "soc-at-start": "100 kWh",
        "soc-min": "50 kWh",
        "soc-max": "450 kWh",
        "power-capacity": "50 kW",
    }
    ev = {
        "sensor": EV,
        "soc-at-start": "10 kWh",
        "soc-min": "0 kWh",
        "soc-max": "60 kWh",
        "power-capacity": "22 kW",
    }
    context = {"site-power-capacity": "60 kW", "consumption-price": {"sensor": 7}}
    job = await fm_client.trigger_asset_schedule(
        TOY_BUILDING_ASSET_ID,
        start=START,
        duration=timedelta(hours=12),
        flex_models=(battery, ev),
        flex_context=context,
        force_new_job=True,
    )
    assert fake_fm_site.paths()[-1] == (
        f"/api/v3_0/assets/{TOY_BUILDING_ASSET_ID}/schedules/trigger"
    )
    assert fake_fm_site.jobs[job].payload == {
        "start": "2026-11-23T00:00:00+00:00",
        "duration": "PT12H",
        "flex-model": [battery, ev],
        "flex-context": context,
        "force-new-job-creation": True,
    }
    assert fake_fm_site.jobs[job].sensor_ids == [BATTERY, EV]
    # The recorded real request has the same shape, and the fake takes it.
    recorded = _fixture("trigger_site_schedule")["request"]["json"]
    assert set(recorded) == set(fake_fm_site.jobs[job].payload)
    status, answer = await _post_raw(fake_fm_site, fm_client, recorded)
    assert status == 202
    assert fake_fm_site.jobs[answer["schedule"]].sensor_ids == [BATTERY, EV]


async def test_without_context_or_force_neither_is_sent(
    fake_fm_site: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """No flex-context means the asset's stored one; no force, no flag."""
    job = await fm_client.trigger_asset_schedule(
        TOY_BUILDING_ASSET_ID,
        start=START,
        duration=timedelta(hours=1),
        flex_models=[{"sensor": EV}, {"sensor": BATTERY}],
    )
    assert fake_fm_site.jobs[job].payload == {
        "start": "2026-11-23T00:00:00+00:00",
        "duration": "PT1H",
        "flex-model": [{"sensor": EV}, {"sensor": BATTERY}],
    }
    assert fake_fm_site.jobs[job].sensor_ids == [EV, BATTERY]


@pytest.mark.parametrize(
    "flex_models",
    [
        [],
        [{"soc-at-start": "10 kWh"}],
        [{"sensor": BATTERY}, {"soc-at-start": "10 kWh"}],
        [{"sensor": str(BATTERY)}],
        [{"sensor": True}],
        [{"sensor": 8.0}],
        [{"sensor": None}],
    ],
)
async def test_a_flex_model_without_its_sensor_id_is_refused_before_sending(
    fake_fm_site: FakeFlexMeasures,
    fm_client: FlexMeasuresClient,
    flex_models: list[dict[str, Any]],
) -> None:
    """No model, or one without an int sensor: ValueError, nothing posted.

    (The real server answers 500 to an empty list and 422 to a model
    without a sensor; fixtures and reference answers show both.)
    """
    with pytest.raises(ValueError, match="flex-model"):
        await fm_client.trigger_asset_schedule(
            TOY_BUILDING_ASSET_ID,
            start=START,
            duration=timedelta(hours=1),
            flex_models=flex_models,
        )
    assert not any("trigger" in path for path in fake_fm_site.paths())


# --- errors, as the real server answers them ------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        # reference 87: a sensor of another asset
        (
            TOY_BATTERY_ASSET_ID,
            (BATTERY, SOLAR),
            FlexMeasuresInvalidRequestError,
            "Sensor 9 does not belong to asset 6 (or to one of its offspring)",
        ),
        # reference 76: another account's asset with an own sensor
        (
            OTHER_ASSET,
            (BATTERY,),
            FlexMeasuresInvalidRequestError,
            "Sensor 8 does not belong to asset 8 (or to one of its offspring)",
        ),
        # the other account's sensor in an own asset
        (
            TOY_BUILDING_ASSET_ID,
            (BATTERY, OTHER_SENSOR),
            FlexMeasuresInvalidRequestError,
            "Sensor 10 does not belong to asset 5 (or to one of its offspring)",
        ),
        # reference 77: another account's asset with its own sensor
        (
            OTHER_ASSET,
            (OTHER_SENSOR,),
            FlexMeasuresAccessDeniedError,
            "You cannot be authorized for this content or functionality.",
        ),
        # fixture 05: a device twice
        (
            TOY_BUILDING_ASSET_ID,
            (BATTERY, BATTERY),
            FlexMeasuresInvalidRequestError,
            "Sensor 8 should not occur more than once in the flex-model",
        ),
        # fixture 06: an unknown sensor
        (
            TOY_BUILDING_ASSET_ID,
            (BATTERY, 99999),
            FlexMeasuresNotFoundError,
            "sensor: No sensor found with ID 99999.",
        ),
        (
            99999,
            (BATTERY,),
            FlexMeasuresNotFoundError,
            "id: No asset found with ID 99999.",
        ),
    ],
    ids=[
        "sensor_of_another_asset",
        "other_accounts_asset_own_sensor",
        "other_accounts_sensor",
        "other_accounts_asset",
        "sensor_twice",
        "unknown_sensor",
        "unknown_asset",
    ],
)
async def test_refusals_are_mapped_like_a_single_trigger(
    fake_fm_site: FakeFlexMeasures,
    fm_client: FlexMeasuresClient,
    case: tuple[int, tuple[int, ...], type[Exception], str],
) -> None:
    """422 for sensors that are not the asset's, 403 for another account's asset."""
    asset_id, sensors, error, message = case
    with pytest.raises(error) as info:
        await fm_client.trigger_asset_schedule(
            asset_id,
            start=START,
            duration=timedelta(hours=1),
            flex_models=_models(*sensors),
        )
    assert str(info.value) == message
    assert fake_fm_site.jobs == {}


async def test_an_answer_without_a_job_id_is_unexpected(
    fake_fm_site: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """A 202 without `schedule`/`job` is not a job."""
    await fm_client.login()
    fake_fm_site.fail_next(Answer(202, '{"status": "ACCEPTED"}'))
    with pytest.raises(Exception, match="No job id"):
        await fm_client.trigger_asset_schedule(
            TOY_BUILDING_ASSET_ID,
            start=START,
            duration=timedelta(hours=1),
            flex_models=_models(BATTERY),
        )


@pytest.mark.parametrize(
    ("name", "models"),
    [
        ("trigger_site_sensor_twice", [BATTERY, BATTERY]),
        ("trigger_site_unknown_sensor", [BATTERY, 99999]),
    ],
)
async def test_the_fake_refuses_like_the_recorded_real_server(
    fake_fm_site: FakeFlexMeasures,
    fm_client: FlexMeasuresClient,
    name: str,
    models: list[int],
) -> None:
    """Same status and body as the real server's recorded refusal."""
    recorded = _fixture(name)
    body = recorded["request"]["json"]
    assert [model["sensor"] for model in body["flex-model"]] == models
    status, answer = await _post_raw(fake_fm_site, fm_client, body)
    assert (status, answer) == (recorded["status"], recorded["body"])
    assert fake_fm_site.jobs == {}


async def test_an_empty_flex_model_list_answers_500_like_the_real_server(
    fake_fm_site: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """Why the client refuses it first: FlexMeasures 1.0.1 crashes on it."""
    for models in ([], None):
        body: dict[str, Any] = {"start": "2026-11-23T00:00:00+00:00"}
        if models is not None:
            body["flex-model"] = models
        status, answer = await _post_raw(fake_fm_site, fm_client, body)
        assert status == 500
        assert "generic_asset" in answer["message"]
    assert fake_fm_site.jobs == {}


async def test_one_flex_model_as_an_object_is_one_device(
    fake_fm_site: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """The real server takes a single model without the list (202) too."""
    body = {"start": "2026-11-23T00:00:00+00:00", "flex-model": {"sensor": EV}}
    status, answer = await _post_raw(fake_fm_site, fm_client, body)
    assert status == 202
    assert fake_fm_site.jobs[answer["schedule"]].sensor_ids == [EV]


# --- each device's part of the one job --------------------------------------------


async def test_each_device_reads_its_own_part_of_the_one_job(
    fake_fm_site: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """Same job id per power sensor; own values; the job's costs in every part."""
    fake_fm_site.job_pending_polls = 2
    duration = timedelta(hours=2)
    job = await fm_client.trigger_asset_schedule(
        TOY_BUILDING_ASSET_ID,
        start=START,
        duration=duration,
        flex_models=_models(BATTERY, EV),
    )
    battery = await fm_client.wait_for_schedule(
        BATTERY, job, resolution=STEP, duration=duration, first_delay=0.01
    )
    ev = await fm_client.wait_for_schedule(
        EV, job, resolution=STEP, duration=duration, first_delay=0.01
    )
    # The job is done for every device once it is done (polls count per job).
    assert fake_fm_site.jobs[job].polls == 4
    assert battery.values == tuple(default_part(0, 8))
    assert ev.values == tuple(default_part(1, 8))
    assert battery.values != ev.values
    for part in (battery, ev):
        assert part.job_id == job
        assert part.start == START
        assert part.resolution == STEP
        assert len(part.values) == 8
        assert part.scheduler_info["commitment_costs"] == COMMITMENT_COSTS


async def test_the_test_sets_each_devices_part(
    fake_fm_site: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """Per job and sensor (`FakeJob.parts`), or for the next jobs (`job_parts`)."""
    fake_fm_site.job_pending_polls = 0
    fake_fm_site.job_parts = {EV: [11.0, 11.0, 0.0, 0.0]}
    job = await fm_client.trigger_asset_schedule(
        TOY_BUILDING_ASSET_ID,
        start=START,
        duration=timedelta(hours=1),
        flex_models=_models(BATTERY, EV),
    )
    fake_fm_site.jobs[job].parts[BATTERY] = [-5.0, 5.0, -5.0, 5.0]
    fake_fm_site.jobs[job].commitment_costs = {"electricity net energy": 1.5}
    battery = await fm_client.get_schedule(BATTERY, job, resolution=STEP)
    ev = await fm_client.get_schedule(EV, job, resolution=STEP)
    assert battery.values == (-5.0, 5.0, -5.0, 5.0)
    assert ev.values == (11.0, 11.0, 0.0, 0.0)
    assert battery.scheduler_info == ev.scheduler_info
    assert ev.scheduler_info["commitment_costs"] == {"electricity net energy": 1.5}


async def test_a_sensor_that_is_not_in_the_job_has_no_schedule(
    fake_fm_site: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """400 UNKNOWN_SCHEDULE, as the real server answers (fixture 04)."""
    job = await fm_client.trigger_asset_schedule(
        TOY_BUILDING_ASSET_ID,
        start=START,
        duration=timedelta(hours=1),
        flex_models=_models(BATTERY, EV),
    )
    fake_fm_site.jobs[job].pending_polls = 0
    with pytest.raises(FlexMeasuresScheduleFailedError) as info:
        await fm_client.get_schedule(SOLAR, job, resolution=STEP)
    recorded = _fixture("get_site_schedule_sensor_not_in_job")
    assert recorded["status"] == 400
    assert info.value.reason == recorded["body"]["message"]


async def test_a_failed_site_job_fails_for_every_device(
    fake_fm_site: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """One job: infeasible for one is infeasible for all, with the reason."""
    fake_fm_site.job_pending_polls = 0
    fake_fm_site.job_fail_reason = "Infeasible problem"
    job = await fm_client.trigger_asset_schedule(
        TOY_BUILDING_ASSET_ID,
        start=START,
        duration=timedelta(hours=1),
        flex_models=_models(BATTERY, EV),
    )
    for sensor in (BATTERY, EV):
        with pytest.raises(FlexMeasuresScheduleFailedError, match="Infeasible"):
            await fm_client.get_schedule(sensor, job, resolution=STEP)


async def test_a_single_device_job_is_what_it_always_was(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """`trigger_schedule` with an asset: a job of one sensor, the first pattern."""
    job = await fm_client.trigger_schedule(
        BATTERY, start=START, duration=timedelta(hours=1), asset_id=6
    )
    assert fake_fm.jobs[job].sensor_ids == [BATTERY]
    assert fake_fm.jobs[job].payload["flex-model"] == [{"sensor": BATTERY}]
    fake_fm.jobs[job].pending_polls = 0
    schedule = await fm_client.get_schedule(BATTERY, job, resolution=STEP)
    assert schedule.values == (-10.0, 0.0, 10.0, -10.0)


async def test_the_fake_seeds_the_ev_charger_only_when_asked(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """Default seed unchanged; `add_ev_charger` puts it below the building."""
    assert EV not in fake_fm.sensors
    fake_fm.add_ev_charger()
    sensor = await fm_client.get_sensor(EV)
    assert (sensor.unit, sensor.event_resolution, sensor.timezone) == (
        "kW",
        STEP,
        "Europe/Amsterdam",
    )
    asset = await fm_client.get_asset(sensor.asset_id or 0)
    assert asset.parent_asset_id == TOY_BUILDING_ASSET_ID
    assert asset.name == "toy-ev-charger"
    building = await fm_client.get_sensors(asset_id=TOY_BUILDING_ASSET_ID)
    assert {BATTERY, EV} <= {s.id for s in building}
    assert FakeFlexMeasures(ev_charger=True).sensors[EV]["unit"] == "kW"


@settings(max_examples=25, deadline=None)
@given(
    members=st.permutations([BATTERY, SOLAR, EV]).flatmap(
        lambda order: st.integers(1, 3).map(lambda n: order[:n])
    ),
    steps=st.integers(1, 12),
)
def test_default_parts_follow_the_flex_model_order_and_differ(
    members: list[int], steps: int
) -> None:
    """Every member's default part is its own; no two are the same."""
    fake = FakeFlexMeasures(ev_charger=True)
    job_id = fake.add_job(
        members[0], start=START, duration=steps * STEP, sensor_ids=members
    )
    parts = [fake.jobs[job_id].part(sensor, steps) for sensor in members]
    for index, part in enumerate(parts):
        assert part == default_part(index, steps)
        assert len(part) == steps
    if steps >= 2:
        assert len({tuple(part) for part in parts}) == len(parts)


# --- the real server's recorded site job ------------------------------------------


def test_recorded_site_job_stays_within_the_sites_capacity() -> None:
    """Real FlexMeasures 1.0.1: two devices, 50 + 22 kW, site capped at 60 kW.

    The sum of the two parts is within -60..60 kW in every step, and it
    reaches both bounds (so the cap did bind: uncapped they could add to 72).
    """
    request = _fixture("trigger_site_schedule")["request"]["json"]
    models = request["flex-model"]
    assert len(models) == 2
    capacity = float(request["flex-context"]["site-power-capacity"].split()[0])
    own = sum(float(m["power-capacity"].split()[0]) for m in models)
    assert capacity < own
    for model in models:
        assert {"sensor", "soc-at-start", "soc-min", "soc-max", "power-capacity"} <= (
            set(model)
        )
    battery = _fixture("get_site_schedule_battery")
    ev = _fixture("get_site_schedule_ev_charger")
    job = _fixture("trigger_site_schedule")["body"]["schedule"]
    for part, model in zip((battery, ev), models, strict=True):
        assert part["status"] == 200
        assert f"/sensors/{model['sensor']}/schedules/{job}" in part["request"]["url"]
        assert parse_datetime(part["body"]["start"]) == parse_datetime(request["start"])
        assert parse_duration(part["body"]["duration"]) == timedelta(hours=24)
        assert len(part["body"]["values"]) == 96
        limit = float(model["power-capacity"].split()[0])
        assert all(abs(v) <= limit + 1e-6 for v in part["body"]["values"])
    assert battery["body"]["scheduler_info"] == ev["body"]["scheduler_info"]
    assert "commitment_costs" in battery["body"]["scheduler_info"]
    sums = [
        b + e
        for b, e in zip(battery["body"]["values"], ev["body"]["values"], strict=True)
    ]
    assert all(abs(total) <= capacity + 1e-6 for total in sums)
    # The cap binds both ways: charging and discharging together.
    assert max(sums) == pytest.approx(capacity)
    assert min(sums) == pytest.approx(-capacity)


async def test_the_client_reads_the_recorded_parts(
    fake_fm_site: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """The real answers parse: 96 quarter-hours from the start, in kW."""
    await fm_client.login()
    for name in ("get_site_schedule_battery", "get_site_schedule_ev_charger"):
        recorded = _fixture(name)
        fake_fm_site.fail_next(Answer(200, json.dumps(recorded["body"])))
        schedule = await fm_client.get_schedule(
            BATTERY, "recorded", resolution=STEP, duration=timedelta(hours=24)
        )
        assert schedule.values == tuple(recorded["body"]["values"])
        assert schedule.unit == "kW"
        assert schedule.end - schedule.start == timedelta(hours=24)
        costs = schedule.scheduler_info["commitment_costs"]
        assert "electricity net energy" in costs


def test_the_recordings_hold_no_token() -> None:
    """Only the placeholder where the Authorization header was."""
    files = sorted(FIXTURES.glob("*.json"))
    assert len(files) >= 3
    for path in files:
        text = path.read_text()
        exchange = json.loads(text)
        assert exchange["request"]["headers"] == {"Authorization": "REDACTED"}
        assert "auth_token" not in text
        # FlexMeasures tokens are base64 JSON ("eyJ...") with dots
        assert not re.search(r"eyJ[\w-]{8,}", text)


async def test_a_flex_model_override_cannot_redirect_a_device_to_another_sensor(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """An override naming "sensor" does not change whose schedule is asked for."""
    start = datetime(2026, 11, 23, tzinfo=UTC)
    await fm_client.trigger_schedule(
        8,
        start=start,
        duration=timedelta(hours=1),
        flex_model={"sensor": 9, "soc-at-start": "1 kWh"},
        asset_id=6,
    )
    assert list(fake_fm.jobs.values())[-1].payload["flex-model"][0]["sensor"] == 8
    models = asset_flex_models({8: {"sensor": 9, "soc-min": "0 kWh"}})
    assert models == [{"sensor": 8, "soc-min": "0 kWh"}]
