"""A fake FlexMeasures 1.0.1 API on 127.0.0.1, for unit tests.

Its answers (bodies, status codes, messages) are those a real FlexMeasures
1.0.1 server (API v3_0) gives for the toy account that `scripts/flexmeasures-server`
seeds; tests/e2e run the same client against such a server.

Use it from any test module:

    pytest_plugins = ["tests.fake_flexmeasures"]   # or import the fixtures

    async def test_x(fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient):
        fake_fm.add_job(...)            # state to arrange
        fake_fm.fail_next(500)          # switches to simulate trouble
        await fm_client.get_sensors()

`fake_fm` starts the server (it requests `socket_enabled` itself); its `url` is
the base URL. `fm_client` is a FlexMeasuresClient logged in as the toy user
over its own aiohttp session.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import itertools
from typing import Any
import uuid
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
import pytest

from custom_components.flexmeasures.api import FlexMeasuresClient
from custom_components.flexmeasures.api.models import (
    format_duration,
    parse_datetime,
    parse_duration,
)

from .const import (
    API_ROOT_MESSAGE,
    API_VERSION,
    FAKE_TOKEN_PREFIX,
    FM_VERSION,
    OTHER_ACCOUNT_ID,
    OTHER_ACCOUNT_NAME,
    TOY_ACCOUNT_ID,
    TOY_ACCOUNT_NAME,
    TOY_BATTERY_ASSET_ID,
    TOY_BATTERY_SENSOR_ID,
    TOY_BUILDING_ASSET_ID,
    TOY_EMAIL,
    TOY_EV_ASSET_ID,
    TOY_EV_SENSOR_ID,
    TOY_PASSWORD,
    TOY_TIMEZONE,
    TOY_USER_ID,
    TOY_USERNAME,
    WRONG_PASSWORD_ERROR,
)

_UNAUTHORIZED = {
    "message": "You could not be properly authenticated for this content or functionality.",
    "status": "UNAUTHORIZED",
}
# `scheduler_info.commitment_costs` of the real server's answer 43.
COMMITMENT_COSTS: dict[str, float] = {
    "electricity all consumption breaches": 0.0,
    "electricity all production breaches": 0.0,
    "electricity any consumption breach": 0.0,
    "electricity any production breach": 0.0,
    "electricity net energy": -57.27938935118323,
    "prefer a full storage 0 sooner": 0.004586969591155539,
}
_FORBIDDEN = {
    "message": "You cannot be authorized for this content or functionality.",
    "result": "Rejected",
    "status": "INVALID_SENDER",
}


@dataclass(frozen=True)
class Answer:
    """A canned answer (any status, raw body and headers) for `fail_next`.

    E.g. `Answer(307, headers={"Location": url})`, or an HTML page in an odd
    charset: `Answer(404, b"<html>...", "text/html; charset=x-unknown")`.
    """

    status: int
    body: bytes | str = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] | dict[str, str] = ()

    def response(self) -> web.Response:
        """The aiohttp response (the Content-Type header is sent as given)."""
        body = self.body.encode() if isinstance(self.body, str) else self.body
        headers = dict(self.headers)
        headers.setdefault("Content-Type", self.content_type)
        return web.Response(status=self.status, body=body, headers=headers)


@dataclass
class Hold:
    """A request held until the test lets it go (`hold_next_at`).

    `arrived` is set when the request is in; it is answered as usual once
    `release` is set. No clock involved: the test decides when the answer comes.
    """

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


_PER_ENERGY = {"Wh": 0.001, "kWh": 1.0, "MWh": 1000.0}


def _price_factor(have: str, want: str) -> float | None:
    """The factor from one price unit to another of the same currency (or None)."""
    have_currency, _, have_energy = have.partition("/")
    want_currency, _, want_energy = want.partition("/")
    if (
        have_currency != want_currency
        or have_energy not in _PER_ENERGY
        or want_energy not in _PER_ENERGY
    ):
        return None
    return _PER_ENERGY[want_energy] / _PER_ENERGY[have_energy]


def _event_end(event_start: datetime, resolution: timedelta, timezone: str) -> datetime:
    """The end of a stored event: whole days count on the sensor's local calendar."""
    day = timedelta(days=1)
    if resolution >= day and resolution % day == timedelta(0):
        return event_start.astimezone(ZoneInfo(timezone)) + resolution
    return event_start + resolution


def _resampled(
    stored: Mapping[datetime, float | None],
    resolution: timedelta,
    timezone: str,
    starts: Sequence[datetime],
    step: timedelta,
) -> list[float | None]:
    """The values at `starts`, each `step` long, as the real server answers them.

    At the sensor's own resolution: the event starting at each start (none
    between its steps: the real server reindexes to the window's grid). At a
    finer step the event covering the start (upsampled), at a coarser one the
    mean of the events inside it.
    """
    if step == resolution or resolution <= timedelta(0):
        return [stored.get(start) for start in starts]
    events = sorted(
        (start, _event_end(start, resolution, timezone), value)
        for start, value in stored.items()
        if value is not None
    )
    values: list[float | None] = []
    for start in starts:
        end = start + step
        if step < resolution:
            covering = [v for a, b, v in events if a <= start < b]
            values.append(covering[-1] if covering else None)
        else:
            inside = [v for a, b, v in events if start <= a and b <= end]
            values.append(sum(inside) / len(inside) if inside else None)
    return values


# What the real server answers for a sensor that is not in the job (fixture
# tests/fixtures/site_schedule/04_get_site_schedule_sensor_not_in_job.json).
# Only when nothing was scheduled for that sensor over the job's window: the
# real server answers the most recent scheduled values of the sensor over the
# job's window, whichever job wrote them. The fake answers per job.
NOT_IN_JOB = (
    "No known schedule for this time period. A scheduling job has been processed "
    "with your job ID, but the schedule was not found in the database. "
    "StorageScheduler was used."
)


def default_part(index: int, count: int) -> list[float]:
    """The planned powers (kW) of a job's member `index` (0: the first sensor).

    `((i + index) % 3 - 1) * 10 * (index + 1)` at step i: the first member's
    are -10, 0, 10, ... (as a one-device job's always were); each further
    member is shifted by a step and scaled, so no two members' parts are equal.
    """
    return [float((i + index) % 3 - 1) * 10 * (index + 1) for i in range(count)]


@dataclass
class FakeJob:
    """A scheduling job: 202 for `pending_polls` polls, then done or failed.

    A job of several devices (an asset-level trigger with several flex-models)
    has all their power sensors in `sensor_ids`, in flex-model order
    (`sensor_id` is the first); `GET /sensors/<id>/schedules/<job>` answers each
    its own part: `parts[id]`, else `values` for the first sensor, else
    `default_part`. Polls count for the job, whichever sensor asks.
    """

    sensor_id: int
    start: datetime
    duration: timedelta
    pending_polls: int = 0
    fail_reason: str | None = None
    values: list[float] | None = None
    polls: int = 0
    payload: dict[str, Any] = field(default_factory=dict)
    enqueued_at: datetime | None = None
    # `scheduler_info.commitment_costs` of the answer (None: not reported);
    # the same in every part's answer, as the real server's
    commitment_costs: dict[str, float] | None = None
    sensor_ids: list[int] = field(default_factory=list)
    parts: dict[int, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """A job is at least its own sensor's."""
        if not self.sensor_ids:
            self.sensor_ids = [self.sensor_id]

    def part(self, sensor_id: int, count: int) -> list[float]:
        """The planned powers of one member sensor (see the class docstring)."""
        if sensor_id in self.parts:
            return self.parts[sensor_id]
        if sensor_id == self.sensor_id and self.values is not None:
            return self.values
        return default_part(self.sensor_ids.index(sensor_id), count)


@dataclass
class FakeFlexMeasures:
    """State and switches of the fake server (toy account as seeded)."""

    users: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            TOY_EMAIL: {
                "id": TOY_USER_ID,
                "password": TOY_PASSWORD,
                "account_id": TOY_ACCOUNT_ID,
                "username": TOY_USERNAME,
                "timezone": TOY_TIMEZONE,
            }
        }
    )
    accounts: dict[int, str] = field(
        default_factory=lambda: {
            TOY_ACCOUNT_ID: TOY_ACCOUNT_NAME,
            OTHER_ACCOUNT_ID: OTHER_ACCOUNT_NAME,
        }
    )
    assets: dict[int, dict[str, Any]] = field(default_factory=dict)
    sensors: dict[int, dict[str, Any]] = field(default_factory=dict)
    data: dict[int, dict[datetime, float]] = field(default_factory=dict)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    # Behaviour of the next triggered jobs.
    job_pending_polls: int = 1
    job_fail_reason: str | None = None
    # What the next jobs report as their costs (as the real server's answer 43
    # does); None: the answer has no `commitment_costs`.
    job_commitment_costs: dict[str, float] | None = field(
        default_factory=lambda: dict(COMMITMENT_COSTS)
    )
    # Parts of the next jobs, per power sensor (copied into each new job).
    job_parts: dict[int, list[float]] = field(default_factory=dict)
    # Switches: persistent...
    delay: float = 0.0
    down: bool = False
    # ...and one-shot failures, consumed one per request: an int status,
    # "html", "broken_json", "drop", "slow" or an `Answer`.
    failures: list[int | str | Answer] = field(default_factory=list)
    # The same, for `POST /api/requestAuthToken` only.
    login_failures: list[int | str | Answer] = field(default_factory=list)
    # The same, for the requests of one path only (`fail_next_at`).
    path_failures: dict[str, list[int | str | Answer | Hold]] = field(
        default_factory=dict
    )
    # What happened.
    requests: list[tuple[str, str]] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)
    login_count: int = 0
    url: str = ""
    # Seed the EV charger too (`add_ev_charger`).
    ev_charger: bool = False
    _token_counter: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        """Seed the toy account like `scripts/flexmeasures-server` does."""
        if not self.assets:
            self.add_asset(4, "NL transmission zone", None, "transmission zone")
            self.add_asset(
                5,
                "toy-building",
                1,
                "building",
                flex_context='{"consumption-price": {"sensor": 7}, '
                '"site-power-capacity": "500 kVA"}',
            )
            self.add_asset(
                TOY_BATTERY_ASSET_ID,
                "toy-battery",
                1,
                "battery",
                parent=TOY_BUILDING_ASSET_ID,
                flex_model='{"soc-max": "450 kWh", "power-capacity": "500 kVA", '
                '"roundtrip-efficiency": "90%"}',
            )
            self.add_asset(7, "toy-solar", 1, "solar", parent=TOY_BUILDING_ASSET_ID)
            self.add_asset(8, "other-asset", 2, "battery")
        if not self.sensors:
            self.add_sensor(7, "day-ahead prices", 4, "EUR/kWh", "PT1H")
            self.add_sensor(
                TOY_BATTERY_SENSOR_ID,
                "discharging",
                TOY_BATTERY_ASSET_ID,
                "kW",
                "PT15M",
            )
            self.add_sensor(9, "production", 7, "kW", "PT15M")
            self.add_sensor(10, "other", 8, "kW", "PT15M")
        if self.ev_charger and TOY_EV_ASSET_ID not in self.assets:
            self.add_ev_charger()

    def add_ev_charger(self) -> None:
        """Seed the EV charger below the building, as the demo server has it.

        Asset TOY_EV_ASSET_ID ("toy-ev-charger", one-way EVSE, child of
        toy-building) with the kW PT15M power sensor TOY_EV_SENSOR_ID: the
        second device of a site. Not seeded by default (the config-flow tests
        list the seed's sensors); `ev_charger=True` or the `fake_fm_site`
        fixture seeds it.
        """
        self.add_asset(
            TOY_EV_ASSET_ID,
            "toy-ev-charger",
            1,
            "one-way_evse",
            parent=TOY_BUILDING_ASSET_ID,
        )
        self.add_sensor(TOY_EV_SENSOR_ID, "power", TOY_EV_ASSET_ID, "kW", "PT15M")

    # --- arranging state ------------------------------------------------------

    def add_asset(
        self,
        asset_id: int,
        name: str,
        account_id: int | None,
        asset_type: str,
        *,
        parent: int | None = None,
        attributes: str = "{}",
        flex_context: str = "{}",
        flex_model: str = "{}",
    ) -> None:
        """Add an asset (account None: public); JSON fields are strings."""
        self.assets[asset_id] = {
            "account_id": account_id,
            "attributes": attributes,
            "child_assets": [],
            "description": None,
            "external_id": None,
            "flex_context": flex_context,
            "flex_model": flex_model,
            "generic_asset_type": {"id": 1, "name": asset_type},
            "id": asset_id,
            "latitude": 52.374,
            "longitude": 4.88969,
            "name": name,
            "owner": None,
            "parent_asset_id": parent,
            "sensors": [],
            "sensors_to_show": "[]",
        }

    def add_sensor(
        self,
        sensor_id: int,
        name: str,
        asset_id: int,
        unit: str,
        resolution: str,
        *,
        attributes: str = "{}",
        timezone: str = TOY_TIMEZONE,
    ) -> None:
        """Add a sensor to an asset (an id in use is an error of the test)."""
        if sensor_id in self.sensors:
            raise ValueError(f"sensor {sensor_id} exists already")
        self.sensors[sensor_id] = {
            "attributes": attributes,
            "entity_address": f"ea1.2026-12.localhost:fm1.{sensor_id}",
            "event_resolution": resolution,
            "generic_asset_id": asset_id,
            "id": sensor_id,
            "name": name,
            "timezone": timezone,
            "unit": unit,
        }
        self.assets[asset_id]["sensors"].append({"id": sensor_id, "name": name})

    def add_job(
        self,
        sensor_id: int,
        *,
        start: datetime,
        duration: timedelta = timedelta(hours=1),
        pending_polls: int = 0,
        fail_reason: str | None = None,
        values: list[float] | None = None,
        sensor_ids: Sequence[int] = (),
        parts: Mapping[int, list[float]] | None = None,
    ) -> str:
        """Add a scheduling job directly; return its uuid.

        `sensor_ids`: all power sensors of a several-device job (the first
        is `sensor_id`); `parts`: planned powers per sensor (see FakeJob).
        """
        job_id = str(uuid.uuid4())
        self.jobs[job_id] = FakeJob(
            sensor_id,
            start,
            duration,
            pending_polls=pending_polls,
            fail_reason=fail_reason,
            values=values,
            enqueued_at=datetime.now().astimezone(),
            sensor_ids=list(sensor_ids or [sensor_id]),
            parts=dict(parts or {}),
        )
        return job_id

    def expire_tokens(self) -> None:
        """Every token handed out so far stops working (401)."""
        self.tokens.clear()

    def fail_next(self, *kinds: int | str | Answer, times: int = 1) -> None:
        """Queue one-shot failures: a status, "html", "broken_json", "drop", "slow".

        Or an `Answer` (any status, body and headers).

        They hit the next requests other than logins (see `login_failures`).
        """
        self.failures.extend(list(kinds) * times)

    def fail_next_at(
        self, path: str, *kinds: int | str | Answer, times: int = 1
    ) -> None:
        """Queue one-shot failures (as `fail_next`) for the requests of one path."""
        self.path_failures.setdefault(path, []).extend(list(kinds) * times)

    def hold_next_at(self, path: str) -> Hold:
        """Hold the next request of `path` until `release` is set (see `Hold`)."""
        hold = Hold()
        self.path_failures.setdefault(path, []).append(hold)
        return hold

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [path for _, path in self.requests]

    # --- the web app ------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The aiohttp app answering like FlexMeasures 1.0.1 (API v3_0)."""
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/api/", self._root)
        r.add_get("/api/v3_0/health/ready", self._health)
        r.add_post("/api/requestAuthToken", self._token)
        r.add_get("/api/v3_0/users/{id}", self._authed(self._user))
        r.add_get("/api/v3_0/accounts/{id}", self._authed(self._account))
        r.add_get("/api/v3_0/assets", self._authed(self._assets))
        r.add_get("/api/v3_0/assets/public", self._authed(self._assets_public))
        r.add_get("/api/v3_0/assets/{id}", self._authed(self._asset))
        r.add_get("/api/v3_0/sensors", self._authed(self._sensors))
        r.add_get("/api/v3_0/sensors/{id}", self._authed(self._sensor))
        r.add_post("/api/v3_0/sensors/{id}/data", self._authed(self._post_data))
        r.add_get("/api/v3_0/sensors/{id}/data", self._authed(self._get_data))
        r.add_post(
            "/api/v3_0/sensors/{id}/schedules/trigger", self._authed(self._trigger)
        )
        r.add_post(
            "/api/v3_0/assets/{id}/schedules/trigger",
            self._authed(self._trigger_asset),
        )
        r.add_get(
            "/api/v3_0/sensors/{id}/schedules/{job}", self._authed(self._schedule)
        )
        r.add_get("/api/v3_0/jobs/{job}", self._authed(self._job))
        return app

    @web.middleware
    async def _middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        self.auth_headers.append(request.headers.get("Authorization"))
        queue = (
            self.path_failures[request.path]
            if self.path_failures.get(request.path)
            else self.login_failures
            if request.path == "/api/requestAuthToken"
            else self.failures
        )
        failure = queue.pop(0) if queue else None
        if self.down or failure == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if isinstance(failure, Hold):
            failure.arrived.set()
            await failure.release.wait()
            failure = None
        if self.delay or failure == "slow":
            await asyncio.sleep(self.delay or 5.0)
        if isinstance(failure, Answer):
            return failure.response()
        if failure == "html":
            return web.Response(
                status=200,
                text="<!DOCTYPE html><html><body>Proxy login</body></html>",
                content_type="text/html",
            )
        if failure == "broken_json":
            return web.Response(
                status=200, text='{"data": [', content_type="application/json"
            )
        if isinstance(failure, int):
            if request.path == "/api/requestAuthToken" and failure in (401, 404):
                # The login's own refusal (reference answers 05 and 06).
                message = (
                    "User password does not match."
                    if failure == 401
                    else "User with email 'x' does not exist"
                )
                return web.json_response(
                    {"errors": [message], "status": failure}, status=failure
                )
            if failure == 429:
                body: dict[str, Any] = {"message": "Too many requests", "status": 429}
            elif failure >= 500:
                body = {"message": "Internal Server Error", "status": failure}
            else:
                body = {"message": f"Error {failure}", "status": failure}
            return web.json_response(body, status=failure)
        return await handler(request)

    def _authed(
        self, handler: Callable[[web.Request, int], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            user_id = self.tokens.get(request.headers.get("Authorization", ""))
            if user_id is None:
                return web.json_response(_UNAUTHORIZED, status=401)
            return await handler(request, user_id)

        return wrapped

    def _account_of(self, user_id: int) -> int:
        return int(
            next(u["account_id"] for u in self.users.values() if u["id"] == user_id)
        )

    async def _root(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "flexmeasures_version": FM_VERSION,
                "message": API_ROOT_MESSAGE,
                "status": 200,
                "versions": [API_VERSION],
            }
        )

    async def _health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"database_redis": True, "database_sql": True, "status": 200}
        )

    async def _token(self, request: web.Request) -> web.StreamResponse:
        self.login_count += 1
        body = await request.json()
        email, password = body.get("email"), body.get("password")
        if not email or not password:
            missing = {
                k: ["Missing data for required field."]
                for k in ("email", "password")
                if not body.get(k)
            }
            return web.json_response(
                {
                    "message": {"json": missing},
                    "result": "Rejected",
                    "status": "UNPROCESSABLE_ENTITY",
                },
                status=422,
            )
        user = self.users.get(email)
        if user is None:
            return web.json_response(
                {
                    "errors": [f"User with email '{email}' does not exist"],
                    "status": 404,
                },
                status=404,
            )
        if user["password"] != password:
            return web.json_response(
                {"errors": [WRONG_PASSWORD_ERROR], "status": 401},
                status=401,
            )
        token = f"{FAKE_TOKEN_PREFIX}-{next(self._token_counter)}-{uuid.uuid4().hex}"
        self.tokens[token] = user["id"]
        return web.json_response(
            {"auth_token": token, "status": 200, "user_id": user["id"]}
        )

    async def _user(self, request: web.Request, user_id: int) -> web.StreamResponse:
        wanted = int(request.match_info["id"])
        for email, user in self.users.items():
            if user["id"] == wanted and wanted == user_id:
                return web.json_response(
                    {
                        "account_id": user["account_id"],
                        "active": True,
                        "email": email,
                        "id": user["id"],
                        "status": 200,
                        "timezone": user["timezone"],
                        "username": user["username"],
                    }
                )
        return web.json_response(
            {"message": f"User {wanted} not found", "status": 404}, status=404
        )

    async def _account(self, request: web.Request, user_id: int) -> web.StreamResponse:
        wanted = int(request.match_info["id"])
        if wanted != self._account_of(user_id):
            return web.json_response(_FORBIDDEN, status=403)
        return web.json_response(
            {"attributes": "{}", "id": wanted, "name": self.accounts[wanted]}
        )

    def _paged(self, request: web.Request, items: list[Any]) -> web.StreamResponse:
        if "page" not in request.query:
            return web.json_response(items)
        page = int(request.query["page"])
        per_page = int(request.query.get("per_page", "10"))
        chunk = items[(page - 1) * per_page : page * per_page]
        if page > 1 and not chunk:
            return web.json_response(
                {"message": "The requested URL was not found.", "status": 404},
                status=404,
            )
        return web.json_response(
            {
                "data": chunk,
                "filtered-records": len(items),
                "num-records": len(items),
                "status": 200,
            }
        )

    async def _assets(self, request: web.Request, user_id: int) -> web.StreamResponse:
        account = self._account_of(user_id)
        items = [a for a in self.assets.values() if a["account_id"] == account]
        return self._paged(request, items)

    async def _assets_public(
        self, request: web.Request, user_id: int
    ) -> web.StreamResponse:
        # The real server ignores paging here.
        return web.json_response(
            [a for a in self.assets.values() if a["account_id"] is None]
        )

    def _check_asset(self, asset_id: int, user_id: int) -> web.StreamResponse | None:
        asset = self.assets.get(asset_id)
        if asset is None:
            return web.json_response(
                {"message": f"No asset found with ID {asset_id}.", "status": 404},
                status=404,
            )
        if asset["account_id"] not in (None, self._account_of(user_id)):
            return web.json_response(_FORBIDDEN, status=403)
        return None

    async def _asset(self, request: web.Request, user_id: int) -> web.StreamResponse:
        asset_id = int(request.match_info["id"])
        if (error := self._check_asset(asset_id, user_id)) is not None:
            return error
        return web.json_response({**self.assets[asset_id], "status": 200})

    def _offspring(self, asset_id: int) -> set[int]:
        found = {asset_id}
        for asset in self.assets.values():
            if asset["parent_asset_id"] == asset_id:
                found |= self._offspring(asset["id"])
        return found

    async def _sensors(self, request: web.Request, user_id: int) -> web.StreamResponse:
        account = self._account_of(user_id)
        allowed = {account}
        if request.query.get("include_public_assets") == "true":
            allowed.add(None)  # type: ignore[arg-type]
        if "asset_id" in request.query:
            asset_id = int(request.query["asset_id"])
            if asset_id not in self.assets:
                return web.json_response(
                    {
                        "message": {
                            "query": {"asset": [f"No asset found with ID {asset_id}."]}
                        },
                        "result": "Rejected",
                        "status": "UNPROCESSABLE_ENTITY",
                    },
                    status=422,
                )
            if (error := self._check_asset(asset_id, user_id)) is not None:
                return error
            asset_ids = self._offspring(asset_id)
        else:
            asset_ids = {
                a["id"] for a in self.assets.values() if a["account_id"] in allowed
            }
        items = [s for s in self.sensors.values() if s["generic_asset_id"] in asset_ids]
        return self._paged(request, items)

    def _check_sensor(
        self,
        request: web.Request,
        user_id: int,
        *,
        unknown: int = 422,
        read: bool = False,
    ) -> tuple[int, web.StreamResponse | None]:
        """The sensor's id, or the error answer; `read`: a public one is fine.

        The real server lets anyone read a sensor of a public asset (the price
        sensor, answers 24 and 36) but not trigger it (answer 55).
        """
        sensor_id = int(request.match_info["id"])
        sensor = self.sensors.get(sensor_id)
        if sensor is None:
            if unknown == 404:
                body: dict[str, Any] = {
                    "message": f"Sensor {sensor_id} not found",
                    "status": 404,
                }
            else:
                body = {
                    "message": {
                        "path": {"id": [f"No sensor found with ID {sensor_id}."]}
                    },
                    "result": "Rejected",
                    "status": "UNPROCESSABLE_ENTITY",
                }
            return sensor_id, web.json_response(body, status=unknown)
        owner = self.assets[sensor["generic_asset_id"]]["account_id"]
        if owner != self._account_of(user_id) and not (read and owner is None):
            return sensor_id, web.json_response(_FORBIDDEN, status=403)
        return sensor_id, None

    async def _sensor(self, request: web.Request, user_id: int) -> web.StreamResponse:
        sensor_id, error = self._check_sensor(request, user_id, read=True)
        if error is not None:
            return error
        return web.json_response({**self.sensors[sensor_id], "status": 200})

    @staticmethod
    def _rejected(field_messages: dict[str, Any]) -> web.StreamResponse:
        return web.json_response(
            {
                "message": {"combined_sensor_data_description": field_messages},
                "result": "Rejected",
                "status": "UNPROCESSABLE_ENTITY",
            },
            status=422,
        )

    async def _post_data(
        self, request: web.Request, user_id: int
    ) -> web.StreamResponse:
        sensor_id, error = self._check_sensor(request, user_id, unknown=404)
        if error is not None:
            return error
        body = await request.json()
        sensor = self.sensors[sensor_id]
        if body.get("unit") != sensor["unit"]:
            return self._rejected(
                {
                    "_schema": [
                        (
                            f"Required unit for this sensor is {sensor['unit']}, "
                            f"got incompatible unit: {body.get('unit')}"
                        )
                    ]
                }
            )
        start = parse_datetime(body["start"])
        step = parse_duration(body["duration"]) / len(body["values"])
        if step != parse_duration(sensor["event_resolution"]):
            return self._rejected(
                {"_schema": [f"Resolution of {step} is incompatible."]}
            )
        stored = self.data.setdefault(sensor_id, {})
        new = {start + i * step: v for i, v in enumerate(body["values"])}
        if all(stored.get(t) == v for t, v in new.items()):
            return web.json_response(
                {
                    "message": "Some of the data has already been received and "
                    "successfully processed.",
                    "results": "PROCESSED",
                    "status": "ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED",
                }
            )
        stored.update(new)
        return web.json_response(
            {"message": "Request has been processed.", "status": "PROCESSED"}
        )

    async def _get_data(self, request: web.Request, user_id: int) -> web.StreamResponse:
        sensor_id, error = self._check_sensor(request, user_id, unknown=404, read=True)
        if error is not None:
            return error
        query = request.query
        missing = [k for k in ("start", "duration", "unit") if k not in query]
        if missing:
            return self._rejected(
                {k: ["Missing data for required field."] for k in missing}
            )
        sensor = self.sensors[sensor_id]
        start = parse_datetime(query["start"])
        duration = parse_duration(query["duration"])
        step = parse_duration(query.get("resolution", sensor["event_resolution"]))
        values = _resampled(
            self.data.get(sensor_id, {}),
            parse_duration(sensor["event_resolution"]),
            sensor["timezone"],
            [start + i * step for i in range(int(duration / step))],
            step,
        )
        if query["unit"] != sensor["unit"]:
            factor = _price_factor(sensor["unit"], query["unit"])
            if factor is None:
                return self._rejected(
                    {"unit": [f"Cannot convert {sensor['unit']} to {query['unit']}"]}
                )
            values = [None if v is None else v * factor for v in values]
        return web.json_response(
            {
                "duration": query["duration"],
                "message": "Request has been processed.",
                "resolution": format_duration(step),
                "start": start.isoformat(),
                "status": "PROCESSED",
                "unit": query["unit"],
                "values": values,
            }
        )

    def _new_job(
        self, sensor_ids: Sequence[int], body: dict[str, Any]
    ) -> web.StreamResponse:
        job_id = self.add_job(
            sensor_ids[0],
            start=parse_datetime(body["start"]),
            duration=parse_duration(body.get("duration", "PT48H")),
            pending_polls=self.job_pending_polls,
            fail_reason=self.job_fail_reason,
            sensor_ids=sensor_ids,
            parts={s: list(v) for s, v in self.job_parts.items() if s in sensor_ids},
        )
        self.jobs[job_id].payload = body
        if self.job_commitment_costs is not None:
            self.jobs[job_id].commitment_costs = dict(self.job_commitment_costs)
        return web.json_response(
            {
                "job": job_id,
                "job-url": f"/api/v3_0/jobs/{job_id}",
                "message": "Request has been accepted for processing.",
                "schedule": job_id,
                "status": "ACCEPTED",
            },
            status=202,
        )

    async def _trigger(self, request: web.Request, user_id: int) -> web.StreamResponse:
        sensor_id, error = self._check_sensor(request, user_id)
        if error is not None:
            return error
        body = await request.json()
        if "start" not in body:
            return web.json_response(
                {
                    "message": {
                        "json": {"start": ["Missing data for required field."]}
                    },
                    "result": "Rejected",
                    "status": "UNPROCESSABLE_ENTITY",
                },
                status=422,
            )
        if (refused := self._refuse_percent_soc_targets(body)) is not None:
            return refused
        return self._new_job([sensor_id], body)

    def _refuse_percent_soc_targets(
        self, body: dict[str, Any]
    ) -> web.StreamResponse | None:
        """A percentage in `soc-targets` is refused, as the real server does.

        FlexMeasures 1.0.1 converts a target to energy without the capacity:
        "80%" is refused (tests/e2e/test_actions_faults_e2e.py shows it).
        """
        models = body.get("flex-model")
        for model in models if isinstance(models, list) else [models]:
            targets = model.get("soc-targets") if isinstance(model, dict) else None
            for index, target in enumerate(targets or []):
                value = target.get("value") if isinstance(target, dict) else None
                if isinstance(value, str) and "%" in value:
                    return self._unprocessable(
                        {
                            "json": {
                                "soc-targets": {
                                    str(index): {
                                        "value": [
                                            f"Cannot convert value `{value}` to 'MWh'"
                                        ]
                                    }
                                }
                            }
                        }
                    )
        return None

    async def _trigger_asset(
        self, request: web.Request, user_id: int
    ) -> web.StreamResponse:
        asset_id = int(request.match_info["id"])
        if asset_id not in self.assets:
            return web.json_response(
                {
                    "message": {"id": [f"No asset found with ID {asset_id}."]},
                    "result": "Rejected",
                    "status": "UNPROCESSABLE_ENTITY",
                },
                status=422,
            )
        body = await request.json()
        if "start" not in body:
            return self._unprocessable({"start": ["Missing data for required field."]})
        models = body.get("flex-model")
        if isinstance(models, dict):
            models = [models]  # the real server takes one model as it is
        if not models:
            # What FlexMeasures 1.0.1 answers for no (or an empty) flex-model.
            return web.json_response(
                {
                    "message": "'NoneType' object has no attribute 'generic_asset'",
                    "status": 500,
                },
                status=500,
            )
        sensor_ids, errors = self._model_sensors(models)
        if errors:
            return self._unprocessable({"flex-model": errors})
        if twice := next((s for s in sensor_ids if sensor_ids.count(s) > 1), None):
            return self._unprocessable(
                {
                    "_schema": [
                        f"Sensor {twice} should not occur more than once in the flex-model"
                    ]
                }
            )
        offspring = self._offspring(asset_id)
        for sensor_id in sensor_ids:
            if self.sensors[sensor_id]["generic_asset_id"] not in offspring:
                return self._unprocessable(
                    {
                        "_schema": [
                            (
                                f"Sensor {sensor_id} does not belong to asset "
                                f"{asset_id} (or to one of its offspring)"
                            )
                        ]
                    }
                )
        # The real server checks the sensors first (reference answers 76, 77).
        if (error := self._check_asset(asset_id, user_id)) is not None:
            return error
        if (refused := self._refuse_percent_soc_targets(body)) is not None:
            return refused
        return self._new_job(sensor_ids, body)

    def _model_sensors(
        self, models: list[Any]
    ) -> tuple[list[int], dict[str, dict[str, list[str]]]]:
        """The flex-models' sensor ids, and the per-model errors (as the server's)."""
        sensor_ids: list[int] = []
        errors: dict[str, dict[str, list[str]]] = {}
        for index, model in enumerate(models):
            raw = model.get("sensor") if isinstance(model, dict) else None
            if raw is None:
                errors[str(index)] = {
                    "_schema": ["Specify either a sensor or an asset."]
                }
                continue
            sensor_id = int(raw)
            if sensor_id not in self.sensors:
                errors[str(index)] = {"sensor": [f"No sensor found with ID {raw}."]}
                continue
            sensor_ids.append(sensor_id)
        return sensor_ids, errors

    @staticmethod
    def _unprocessable(message: dict[str, Any]) -> web.StreamResponse:
        return web.json_response(
            {
                "message": message,
                "result": "Rejected",
                "status": "UNPROCESSABLE_ENTITY",
            },
            status=422,
        )

    async def _schedule(self, request: web.Request, user_id: int) -> web.StreamResponse:
        sensor_id, error = self._check_sensor(request, user_id)
        if error is not None:
            return error
        job_id = request.match_info["job"]
        job = self.jobs.get(job_id)
        if job is None:
            return web.json_response(
                {
                    "message": f"The requested UDI event (id = {job_id}, type = job) "
                    "is not known.",
                    "result": "Rejected",
                    "status": "UNRECOGNIZED_UDI_EVENT",
                },
                status=400,
            )
        job.polls += 1
        if job.polls <= job.pending_polls:
            return web.json_response(
                {
                    "message": "Scheduling job in progress.  was used.",
                    "status": "STARTED",
                },
                status=202,
            )
        if job.fail_reason is not None or sensor_id not in job.sensor_ids:
            return web.json_response(
                {
                    "message": "No known schedule for this time period. Scheduling job "
                    f"failed with {job.fail_reason}. StorageScheduler was used."
                    if job.fail_reason is not None
                    else NOT_IN_JOB,
                    "result": "Rejected",
                    "status": "UNKNOWN_SCHEDULE",
                },
                status=400,
            )
        duration = (
            parse_duration(request.query["duration"])
            if "duration" in request.query
            else job.duration
        )
        step = parse_duration(self.sensors[sensor_id]["event_resolution"])
        count = int(duration / step)
        values = job.part(sensor_id, count)
        info: dict[str, Any] = {"scheduler": "StorageScheduler"}
        if job.commitment_costs is not None:
            info["commitment_costs"] = job.commitment_costs
        return web.json_response(
            {
                "duration": format_duration(duration),
                "message": "Request has been processed. StorageScheduler was used.",
                "scheduler_info": info,
                "start": job.start.astimezone(
                    ZoneInfo(self.sensors[sensor_id]["timezone"])
                ).isoformat(),
                "status": "PROCESSED",
                "unit": self.sensors[sensor_id]["unit"],
                "values": values[:count],
            }
        )

    async def _job(self, request: web.Request, user_id: int) -> web.StreamResponse:
        job_id = request.match_info["job"]
        job = self.jobs.get(job_id)
        if job is None:
            return web.json_response(
                {"message": f"Job {job_id} not found.", "status": "ERROR"}, status=404
            )
        enqueued = job.enqueued_at or datetime.now().astimezone()
        times = {
            "enqueued_at": enqueued.isoformat(),
            "enqueued-at": enqueued.isoformat(),
            "started_at": (enqueued + timedelta(seconds=0.05)).isoformat(),
            "started-at": (enqueued + timedelta(seconds=0.05)).isoformat(),
        }
        done = job.polls > job.pending_polls
        if done:
            ended = (enqueued + timedelta(seconds=1)).isoformat()
            times |= {"ended_at": ended, "ended-at": ended}
        if done and job.fail_reason is not None:
            return web.json_response(
                {
                    **times,
                    "message": f"Scheduling job failed with {job.fail_reason}.",
                    "status": "FAILED",
                },
                status=422,
            )
        return web.json_response(
            {
                **times,
                "message": "Scheduling job has finished."
                if done
                else "Scheduling job in progress.",
                "status": "FINISHED" if done else "STARTED",
            }
        )


@dataclass
class RecordingServer:
    """A server that records every request it gets, body included.

    Stands for wherever a redirect points: a test proves that nothing (no
    password) arrives there. It answers every request like a successful login.
    """

    url: str = ""
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)

    def make_app(self) -> web.Application:
        """Answer anything with a token, after recording it."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        return app

    async def _record(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path, await request.read()))
        return web.json_response({"auth_token": "stolen", "status": 200, "user_id": 1})


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run an aiohttp app on 127.0.0.1; yield its base URL (no trailing slash)."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def fm_sink(socket_enabled: None) -> AsyncGenerator[RecordingServer]:
    """A running `RecordingServer` on 127.0.0.1 (`fm_sink.url`)."""
    sink = RecordingServer()
    async with serve(sink.make_app()) as url:
        sink.url = url
        yield sink


@pytest.fixture
async def fake_fm(socket_enabled: None) -> AsyncGenerator[FakeFlexMeasures]:
    """A running fake FlexMeasures server on 127.0.0.1 (`fake_fm.url`)."""
    fake = FakeFlexMeasures()
    # no access log: under freezegun its timing line fails to format
    server = TestServer(fake.make_app(), host="127.0.0.1")
    await server.start_server(access_log=None)
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@pytest.fixture
async def fake_fm_site(fake_fm: FakeFlexMeasures) -> FakeFlexMeasures:
    """`fake_fm` with the EV charger below the building (a site of two devices)."""
    fake_fm.add_ev_charger()
    return fake_fm


@pytest.fixture
async def fm_session() -> AsyncGenerator[aiohttp.ClientSession]:
    """A plain aiohttp session for a client, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def fm_client(
    fake_fm: FakeFlexMeasures, fm_session: aiohttp.ClientSession
) -> FlexMeasuresClient:
    """A client for the fake server, as the toy user (short timeout)."""
    return FlexMeasuresClient(
        fm_session, fake_fm.url, TOY_EMAIL, TOY_PASSWORD, request_timeout=2.0
    )


__all__ = [
    "Answer",
    "FakeFlexMeasures",
    "FakeJob",
    "Hold",
    "RecordingServer",
    "default_part",
    "fake_fm",
    "fake_fm_site",
    "fm_client",
    "fm_session",
    "fm_sink",
    "serve",
]
