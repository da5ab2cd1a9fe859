"""The API client against the real FlexMeasures server."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
import random

import aiohttp
import pytest

from custom_components.flexmeasures.api import (
    FlexMeasuresAccessDeniedError,
    FlexMeasuresAuthenticationError,
    FlexMeasuresClient,
    FlexMeasuresNotFoundError,
    FlexMeasuresRedirectError,
    FlexMeasuresScheduleFailedError,
)

from .loopback import redirected_login

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    """An aiohttp session for the test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def client(
    fm_server: dict[str, str], session: aiohttp.ClientSession
) -> FlexMeasuresClient:
    """A client logged in as the demo user."""
    return FlexMeasuresClient(
        session,
        fm_server["FLEXMEASURES_URL"],
        fm_server["FLEXMEASURES_EMAIL"],
        fm_server["FLEXMEASURES_PASSWORD"],
    )


def _now_step() -> datetime:
    now = datetime.now(UTC)
    return now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0)


async def test_login_version_user_account(
    client: FlexMeasuresClient, fm_server: dict[str, str]
) -> None:
    """Login gives the user id; version, health, user and account."""
    user_id = await client.login()
    info = await client.get_server_info()
    assert info.version == "1.0.1"
    assert "v3_0" in info.api_versions
    assert await client.get_health() is True
    user = await client.get_current_user()
    assert user.id == user_id
    assert user.email == fm_server["FLEXMEASURES_EMAIL"]
    account = await client.get_account()
    assert account.id == int(fm_server["FM_TOY_ACCOUNT_ID"])


async def test_wrong_password_and_unknown_user(
    fm_server: dict[str, str], session: aiohttp.ClientSession
) -> None:
    """Wrong password and unknown email are authentication errors."""
    url = fm_server["FLEXMEASURES_URL"]
    wrong = FlexMeasuresClient(session, url, fm_server["FLEXMEASURES_EMAIL"], "wrong")
    with pytest.raises(FlexMeasuresAuthenticationError, match="password"):
        await wrong.login()
    nobody = FlexMeasuresClient(session, url, "nobody@example.com", "x")
    with pytest.raises(FlexMeasuresAuthenticationError, match="does not exist"):
        await nobody.login()


async def test_assets_and_sensors_of_demo_account(
    client: FlexMeasuresClient, fm_server: dict[str, str]
) -> None:
    """The demo assets (JSON fields parsed) and sensors, all pages."""
    client._page_size = 2
    assets = {a.id: a for a in await client.get_assets()}
    battery = assets[int(fm_server["FM_TOY_BATTERY_ASSET_ID"])]
    assert battery.flex_model["soc-max"] == "450 kWh"
    assert int(fm_server["FM_TOY_BUILDING_ASSET_ID"]) in assets
    public = await client.get_assets(include_public=True)
    assert any(a.account_id is None for a in public)
    sensors = {s.id: s for s in await client.get_sensors()}
    battery_sensor = sensors[int(fm_server["FM_TOY_BATTERY_SENSOR_ID"])]
    assert battery_sensor.unit == "kW"
    assert battery_sensor.event_resolution == timedelta(minutes=15)
    assert battery_sensor.timezone == "Europe/Amsterdam"
    building = await client.get_sensors(
        asset_id=int(fm_server["FM_TOY_BUILDING_ASSET_ID"])
    )
    assert int(fm_server["FM_TOY_SOLAR_SENSOR_ID"]) in {s.id for s in building}
    with_public = await client.get_sensors(include_public=True)
    assert int(fm_server["FM_TOY_PRICE_SENSOR_ID"]) in {s.id for s in with_public}


async def test_other_account_is_denied_and_unknown_not_found(
    client: FlexMeasuresClient, fm_server: dict[str, str]
) -> None:
    """403 on the other account's sensor; unknown ids are not found."""
    with pytest.raises(FlexMeasuresAccessDeniedError):
        await client.get_sensor(int(fm_server["FM_OTHER_SENSOR_ID"]))
    with pytest.raises(FlexMeasuresNotFoundError):
        await client.get_sensor(99999)
    with pytest.raises(FlexMeasuresNotFoundError):
        await client.get_schedule(
            int(fm_server["FM_TOY_BATTERY_SENSOR_ID"]),
            "00000000-0000-0000-0000-000000000000",
            resolution=timedelta(minutes=15),
        )


async def test_post_and_read_back_solar(
    client: FlexMeasuresClient, fm_server: dict[str, str]
) -> None:
    """Measurements posted to the solar sensor are read back."""
    sensor_id = int(fm_server["FM_TOY_SOLAR_SENSOR_ID"])
    day = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(2000))
    start = day + timedelta(hours=random.randrange(24))
    values = [round(random.uniform(0, 5), 3) for _ in range(4)]
    status = await client.post_sensor_data(
        sensor_id, start=start, duration=timedelta(hours=1), values=values, unit="kW"
    )
    assert status in ("PROCESSED", "ACCEPTED")
    again = await client.post_sensor_data(
        sensor_id, start=start, duration=timedelta(hours=1), values=values, unit="kW"
    )
    assert again == "ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED"
    data = await client.get_sensor_data(
        sensor_id, start=start, duration=timedelta(hours=1), unit="kW"
    )
    assert data.values == tuple(values)
    assert data.resolution == timedelta(minutes=15)
    assert data.start == start


async def test_battery_schedule(
    client: FlexMeasuresClient, fm_server: dict[str, str]
) -> None:
    """A triggered battery schedule arrives in kW, in the sensor's time zone."""
    sensor_id = int(fm_server["FM_TOY_BATTERY_SENSOR_ID"])
    start = _now_step()
    job = await client.trigger_schedule(
        sensor_id,
        start=start,
        duration=timedelta(hours=12),
        flex_model={
            "soc-at-start": "225 kWh",
            "soc-min": "50 kWh",
            "soc-max": "450 kWh",
        },
        flex_context={
            "consumption-price": {"sensor": int(fm_server["FM_TOY_PRICE_SENSOR_ID"])}
        },
        force_new_job=True,
    )
    resolution = (await client.get_sensor(sensor_id)).event_resolution
    schedule = await client.wait_for_schedule(
        sensor_id, job, resolution=resolution, duration=timedelta(hours=12)
    )
    assert schedule.unit == "kW"
    assert schedule.start == start
    assert schedule.start.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
    assert schedule.resolution == timedelta(minutes=15)
    assert len(schedule.values) == 48
    assert all(abs(v) <= 500.0001 for v in schedule.values)
    status = await client.get_job_status(job)
    assert status.status == "FINISHED"
    assert status.enqueued_at is not None
    assert status.ended_at is not None
    assert status.ended_at >= status.enqueued_at


async def test_asset_level_schedule(
    client: FlexMeasuresClient, fm_server: dict[str, str]
) -> None:
    """The asset-level trigger with a flex-model list works too."""
    sensor_id = int(fm_server["FM_TOY_BATTERY_SENSOR_ID"])
    job = await client.trigger_schedule(
        sensor_id,
        start=_now_step(),
        duration=timedelta(hours=6),
        flex_model={"soc-at-start": "100 kWh", "soc-min": "0 kWh"},
        flex_context={
            "consumption-price": {"sensor": int(fm_server["FM_TOY_PRICE_SENSOR_ID"])}
        },
        asset_id=int(fm_server["FM_TOY_BATTERY_ASSET_ID"]),
        force_new_job=True,
    )
    schedule = await client.wait_for_schedule(
        sensor_id, job, resolution=timedelta(minutes=15), duration=timedelta(hours=6)
    )
    assert len(schedule.values) == 24


async def test_infeasible_schedule_fails_with_reason(
    client: FlexMeasuresClient, fm_server: dict[str, str]
) -> None:
    """soc-at-start above soc-max fails, with the server's reason."""
    sensor_id = int(fm_server["FM_TOY_BATTERY_SENSOR_ID"])
    job = await client.trigger_schedule(
        sensor_id,
        start=_now_step(),
        duration=timedelta(hours=12),
        flex_model={
            "soc-at-start": "999 kWh",
            "soc-min": "50 kWh",
            "soc-max": "450 kWh",
        },
        flex_context={
            "consumption-price": {"sensor": int(fm_server["FM_TOY_PRICE_SENSOR_ID"])}
        },
        force_new_job=True,
    )
    with pytest.raises(FlexMeasuresScheduleFailedError) as info:
        await client.wait_for_schedule(
            sensor_id,
            job,
            resolution=timedelta(minutes=15),
            duration=timedelta(hours=12),
        )
    assert "nfeasible" in info.value.reason
    status = await client.get_job_status(job)
    assert status.status == "FAILED"


async def test_redirected_login_is_refused_and_the_password_stays_home(
    fm_server: dict[str, str], session: aiohttp.ClientSession
) -> None:
    """A login answered 307 is an error; nothing reaches the redirect target.

    The target forwards to the real server: following the 307 would have
    posted the password there and got a token (the control at the end).
    """
    email = fm_server["FLEXMEASURES_EMAIL"]
    password = fm_server["FLEXMEASURES_PASSWORD"]
    async with redirected_login(fm_server["FLEXMEASURES_URL"]) as (url, target):
        client = FlexMeasuresClient(session, url, email, password)
        assert (await client.get_server_info()).version == "1.0.1"  # passed through
        with pytest.raises(FlexMeasuresRedirectError) as info:
            await client.login()
        assert info.value.status == 307
        assert info.value.location == target.url + "/api/requestAuthToken"
        assert target.requests == []

        # Control: the target does hand a posted login to the real server.
        direct = FlexMeasuresClient(session, target.url, email, password)
        assert await direct.login() > 0
        assert any(password.encode() in body for body in target.bodies())


async def test_url_spelled_differently_reaches_the_same_server(
    fm_server: dict[str, str], session: aiohttp.ClientSession
) -> None:
    """Upper-case scheme and a trailing slash are normalised before connecting.

    (The server refuses Host headers it does not trust; reference answer 84.)
    """
    url = fm_server["FLEXMEASURES_URL"]
    spelled = url.replace("http://", "HTTP://", 1) + "/"
    client = FlexMeasuresClient(
        session,
        spelled,
        fm_server["FLEXMEASURES_EMAIL"],
        fm_server["FLEXMEASURES_PASSWORD"],
    )
    assert client.url == url
    assert await client.login() > 0
    assert await client.get_health() is True
