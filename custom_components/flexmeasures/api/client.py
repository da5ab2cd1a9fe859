"""The FlexMeasures API client.

One `FlexMeasuresClient` talks to one server as one user, over Home Assistant's
(or any) aiohttp session. It keeps the auth token, refreshes it once on a 401,
and maps every failure to one of the errors in `errors.py` in one place
(`responses.error_from_response`). It never follows a redirect, and never logs
a password or a token: only method, path and status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
import logging
from typing import Any

import aiohttp

from .errors import (
    FlexMeasuresAuthenticationError,
    FlexMeasuresConnectionError,
    FlexMeasuresInvalidRequestError,
    FlexMeasuresRedirectError,
    FlexMeasuresResponseError,
    FlexMeasuresScheduleFailedError,
    FlexMeasuresSchedulePendingError,
    FlexMeasuresUnexpectedResponseError,
)
from .models import (
    Account,
    Asset,
    JobStatus,
    Schedule,
    Sensor,
    SensorData,
    ServerInfo,
    User,
    account_from_api,
    asset_from_api,
    format_datetime,
    format_duration,
    job_status_from_api,
    schedule_from_api,
    sensor_data_from_api,
    sensor_from_api,
    server_info_from_api,
    user_from_api,
)
from .responses import (
    NOT_JSON,
    decode,
    error_from_response,
    is_login_refusal,
    parse,
    retry_after_seconds,
    server_message,
)
from .urls import normalise_url, redirect_target, redirected_base_url

_LOGGER = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
API_PREFIX = "/api/v3_0"
PAGE_SIZE = 100


class FlexMeasuresClient:
    """Talk to one FlexMeasures server as one user."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        email: str,
        password: str,
        *,
        verify_ssl: bool = True,
        request_timeout: float = DEFAULT_TIMEOUT,
        page_size: int = PAGE_SIZE,
    ) -> None:
        """Keep the session and credentials; nothing is sent yet.

        `url` is the server's base URL with scheme, optional port and path
        prefix (e.g. `https://fm.example.com/prefix`); a trailing slash is fine.
        Raises ValueError for a URL without http(s) scheme or host, and
        UrlHasCredentialsError (a ValueError) for a URL with user info. The
        URL is normalised (`normalise_url`) before anything is sent.
        """
        self._session = session
        self._url = normalise_url(url)
        self._email = email
        self._password = password
        self._ssl: bool = verify_ssl
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._page_size = page_size
        self._token: str | None = None
        self._user_id: int | None = None
        self._token_lock = asyncio.Lock()
        self._reachability_listener: Callable[[bool], None] | None = None

    def set_reachability_listener(self, listener: Callable[[bool], None]) -> None:
        """Call `listener` after each exchange with whether it reached the server.

        True for FlexMeasures' own answers (JSON, success or a 4xx error);
        False for a connection error, a timeout, a 5xx, a redirect, and any
        page that is not FlexMeasures' JSON (a proxy's maintenance page).
        """
        self._reachability_listener = listener

    def _reached(self, reached: bool) -> None:
        if self._reachability_listener is not None:
            self._reachability_listener(reached)

    def __repr__(self) -> str:
        """Say which server and user, never the password or token."""
        return f"FlexMeasuresClient(url={self._url!r}, email={self._email!r})"

    @property
    def url(self) -> str:
        """The normalised base URL (no trailing slash)."""
        return self._url

    @property
    def user_id(self) -> int | None:
        """The id of the logged-in user, known after the first login."""
        return self._user_id

    # --- transport -----------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> tuple[int, Any]:
        """One HTTP exchange; return the status and the decoded JSON body.

        The body is `None` when it is empty, and a `_NotJson` marker when it is
        not JSON (HTML error pages, truncated answers).
        """
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = token  # raw, no "Bearer " prefix
        location: str | None = None
        retry_after: str | None = None
        try:
            # Never follow a redirect: it would send the body (the password)
            # and the token again, to wherever the server points.
            async with self._session.request(
                method,
                self._url + path,
                params=params,
                json=json_body,
                headers=headers,
                ssl=self._ssl,
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                status = resp.status
                if 300 <= status < 400:
                    location = resp.headers.get("Location")
                    raw = b""
                else:
                    raw = await resp.read()
                    if status == 429:
                        retry_after = resp.headers.get("Retry-After")
        except TimeoutError as err:
            _LOGGER.debug("%s %s -> timeout", method, path)
            self._reached(False)
            raise FlexMeasuresConnectionError(
                "Timeout talking to the FlexMeasures server"
            ) from err
        except aiohttp.ClientError as err:
            _LOGGER.debug("%s %s -> %s", method, path, type(err).__name__)
            self._reached(False)
            raise FlexMeasuresConnectionError(
                f"Cannot connect to the FlexMeasures server: {type(err).__name__}"
            ) from err
        _LOGGER.debug("%s %s -> %s", method, path, status)
        if 300 <= status < 400:
            self._reached(False)
            target = redirect_target(self._url + path, location)
            raise FlexMeasuresRedirectError(
                status,
                location=target,
                suggested_url=redirected_base_url(target, path),
            )
        body = decode(raw)
        # FlexMeasures answers JSON: a proxy's page (also a 200 or a 404) is not it
        json_answer = body is not NOT_JSON and body is not None
        self._reached(json_answer and status < 500)
        if status == 429:  # too many requests, whatever was asked: wait as told
            raise error_from_response(
                status,
                None if body is NOT_JSON else body,
                retry_after=retry_after_seconds(retry_after),
            )
        return status, body

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        accept: frozenset[int] = frozenset({200}),
    ) -> tuple[int, Any]:
        """An authenticated request: log in when needed, retry once on a 401.

        Statuses in `accept` with a JSON body are returned; anything else raises
        the mapped error.
        """
        token = await self._valid_token(stale=None)
        status, body = await self._send(
            method, path, token=token, params=params, json_body=json_body
        )
        if status == 401:
            token = await self._valid_token(stale=token)
            status, body = await self._send(
                method, path, token=token, params=params, json_body=json_body
            )
        return self._check(status, body, accept)

    async def _request_public(self, path: str) -> tuple[int, Any]:
        """A request that needs no login."""
        status, body = await self._send("GET", path, token=None)
        return self._check(status, body, frozenset({200}))

    @staticmethod
    def _check(status: int, body: Any, accept: frozenset[int]) -> tuple[int, Any]:
        if status in accept:
            if body is NOT_JSON or body is None:
                raise FlexMeasuresUnexpectedResponseError(
                    f"HTTP {status} without a JSON body: not a FlexMeasures server?"
                )
            return status, body
        raise error_from_response(status, None if body is NOT_JSON else body)

    # --- authentication ------------------------------------------------------

    async def _valid_token(self, *, stale: str | None) -> str:
        """The cached token, or a new one; concurrent callers share one login.

        `stale` is a token the server just refused: log in again unless another
        caller has already replaced it.
        """
        async with self._token_lock:
            if self._token is None or self._token == stale:
                self._token = None
                return await self._login_locked()
            return self._token

    async def _login_locked(self) -> str:
        status, body = await self._send(
            "POST",
            "/api/requestAuthToken",
            token=None,
            json_body={"email": self._email, "password": self._password},
        )
        if status in (401, 404):
            # Bad credentials only when FlexMeasures itself says so; a proxy's
            # 404 page or maintenance answer is not a verdict on the password.
            if is_login_refusal(body):
                raise FlexMeasuresAuthenticationError(server_message(body, status))
            raise FlexMeasuresUnexpectedResponseError(
                f"HTTP {status} from the login without FlexMeasures' answer"
            )
        _, body = self._check(status, body, frozenset({200}))
        token = body.get("auth_token") if isinstance(body, Mapping) else None
        if not isinstance(token, str) or not token:
            raise FlexMeasuresUnexpectedResponseError("The login gave no token")
        user_id = body.get("user_id")
        self._token = token
        if user_id is not None:
            self._user_id = parse(int, user_id)
        return token

    async def login(self) -> int:
        """Get a fresh token (`POST /api/requestAuthToken`); return the user id."""
        async with self._token_lock:
            self._token = None
            await self._login_locked()
        if self._user_id is None:
            raise FlexMeasuresUnexpectedResponseError("The login gave no user id")
        return self._user_id

    # --- server --------------------------------------------------------------

    async def get_server_info(self) -> ServerInfo:
        """`GET /api/` (no login needed)."""
        _, body = await self._request_public("/api/")
        return parse(server_info_from_api, body)

    async def get_health(self) -> bool:
        """`GET /api/v3_0/health/ready`: True when ready."""
        status, body = await self._send("GET", f"{API_PREFIX}/health/ready", token=None)
        if status == 503 and isinstance(body, Mapping):
            return False
        _, body = self._check(status, body, frozenset({200}))
        if not isinstance(body, Mapping):
            raise FlexMeasuresUnexpectedResponseError("Health is not an object")
        return all(
            body.get(key, True) is not False
            for key in ("database_sql", "database_redis")
        )

    # --- users, accounts, assets, sensors ------------------------------------

    async def get_current_user(self) -> User:
        """The logged-in user (`GET /api/v3_0/users/<user_id>`; logs in if needed)."""
        if self._user_id is None:
            await self._valid_token(stale=None)
        if self._user_id is None:
            raise FlexMeasuresUnexpectedResponseError("The login gave no user id")
        _, body = await self._request("GET", f"{API_PREFIX}/users/{self._user_id}")
        return parse(user_from_api, body)

    async def get_account(self, account_id: int | None = None) -> Account:
        """An account (default: the logged-in user's)."""
        if account_id is None:
            account_id = (await self.get_current_user()).account_id
        _, body = await self._request("GET", f"{API_PREFIX}/accounts/{account_id}")
        return parse(account_from_api, body)

    async def _get_all_pages(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> list[Any]:
        """All items of a listing, page by page (`page`/`per_page`).

        Listings that ignore paging answer a plain list: that is all of it.
        """
        items: list[Any] = []
        page = 1
        while True:
            query = {
                **(params or {}),
                "page": str(page),
                "per_page": str(self._page_size),
            }
            _, body = await self._request("GET", path, params=query)
            if isinstance(body, list):
                return body
            if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
                raise FlexMeasuresUnexpectedResponseError(
                    f"Unexpected listing from {path}"
                )
            data: list[Any] = body["data"]
            items.extend(data)
            total = body.get("filtered-records", body.get("num-records"))
            if (
                not data
                or len(data) < self._page_size
                or (isinstance(total, int) and len(items) >= total)
            ):
                return items
            page += 1

    async def get_assets(self, *, include_public: bool = False) -> list[Asset]:
        """All assets of the user's account (all pages), optionally public ones."""
        raw = await self._get_all_pages(f"{API_PREFIX}/assets")
        assets = [parse(asset_from_api, item) for item in raw]
        if include_public:
            seen = {asset.id for asset in assets}
            for item in await self._get_all_pages(f"{API_PREFIX}/assets/public"):
                asset = parse(asset_from_api, item)
                if asset.id not in seen:
                    seen.add(asset.id)
                    assets.append(asset)
        return assets

    async def get_asset(self, asset_id: int) -> Asset:
        """One asset."""
        _, body = await self._request("GET", f"{API_PREFIX}/assets/{asset_id}")
        return parse(asset_from_api, body)

    async def get_sensors(
        self, *, asset_id: int | None = None, include_public: bool = False
    ) -> list[Sensor]:
        """Sensors of the account (all pages), or of one asset.

        With `asset_id`, the sensors of that asset and of its child assets
        (`GET /sensors?asset_id=`; `/assets/<id>/sensors` would omit children).
        """
        params: dict[str, str] = {}
        if asset_id is not None:
            params["asset_id"] = str(asset_id)
        if include_public:
            params["include_public_assets"] = "true"
        raw = await self._get_all_pages(f"{API_PREFIX}/sensors", params)
        return [parse(sensor_from_api, item) for item in raw]

    async def get_sensor(self, sensor_id: int) -> Sensor:
        """One sensor."""
        _, body = await self._request("GET", f"{API_PREFIX}/sensors/{sensor_id}")
        return parse(sensor_from_api, body)

    # --- sensor data ---------------------------------------------------------

    async def post_sensor_data(
        self,
        sensor_id: int,
        *,
        start: datetime,
        duration: timedelta,
        values: Sequence[float | None],
        unit: str,
        prior: datetime | None = None,
    ) -> str:
        """`POST /api/v3_0/sensors/<id>/data`; return the server's status string."""
        payload: dict[str, Any] = {
            "values": list(values),
            "start": format_datetime(start),
            "duration": format_duration(duration),
            "unit": unit,
        }
        if prior is not None:
            payload["prior"] = format_datetime(prior)
        _, body = await self._request(
            "POST",
            f"{API_PREFIX}/sensors/{sensor_id}/data",
            json_body=payload,
            accept=frozenset({200, 202}),
        )
        status = body.get("status") if isinstance(body, Mapping) else None
        if not isinstance(status, str):
            raise FlexMeasuresUnexpectedResponseError("No status in the answer")
        return status

    async def get_sensor_data(
        self,
        sensor_id: int,
        *,
        start: datetime,
        duration: timedelta,
        unit: str,
        resolution: timedelta | None = None,
        source: int | None = None,
    ) -> SensorData:
        """`GET /api/v3_0/sensors/<id>/data`."""
        params = {
            "start": format_datetime(start),
            "duration": format_duration(duration),
            "unit": unit,
        }
        if resolution is not None:
            params["resolution"] = format_duration(resolution)
        if source is not None:
            params["source"] = str(source)
        _, body = await self._request(
            "GET", f"{API_PREFIX}/sensors/{sensor_id}/data", params=params
        )
        return parse(sensor_data_from_api, body)

    # --- scheduling ----------------------------------------------------------

    async def trigger_schedule(
        self,
        sensor_id: int,
        *,
        start: datetime,
        duration: timedelta,
        flex_model: Mapping[str, Any] | None = None,
        flex_context: Mapping[str, Any] | None = None,
        asset_id: int | None = None,
        force_new_job: bool = False,
    ) -> str:
        """Trigger a schedule; return the job uuid.

        With `asset_id` it uses `POST /assets/<asset_id>/schedules/trigger` with
        `flex-model` as a list `[{"sensor": sensor_id, **flex_model}]`; without,
        `POST /sensors/<sensor_id>/schedules/trigger`.
        """
        payload: dict[str, Any] = {
            "start": format_datetime(start),
            "duration": format_duration(duration),
        }
        if asset_id is not None:
            # the sensor last: an override naming another must not redirect it
            payload["flex-model"] = [{**(flex_model or {}), "sensor": sensor_id}]
            path = f"{API_PREFIX}/assets/{asset_id}/schedules/trigger"
        else:
            if flex_model is not None:
                payload["flex-model"] = dict(flex_model)
            path = f"{API_PREFIX}/sensors/{sensor_id}/schedules/trigger"
        if flex_context is not None:
            payload["flex-context"] = dict(flex_context)
        if force_new_job:
            payload["force-new-job-creation"] = True
        _, body = await self._request(
            "POST", path, json_body=payload, accept=frozenset({200, 202})
        )
        return _job_id(body)

    async def trigger_asset_schedule(
        self,
        asset_id: int,
        *,
        start: datetime,
        duration: timedelta,
        flex_models: Sequence[Mapping[str, Any]],
        flex_context: Mapping[str, Any] | None = None,
        force_new_job: bool = False,
    ) -> str:
        """Schedule several devices below an asset in one job; return its uuid.

        `POST /assets/<asset_id>/schedules/trigger` with `flex-model` as the
        list (each item names its power `sensor`, below the asset); the
        flex-context is the site's (e.g. `site-power-capacity`). Each device's
        schedule is then read with `get_schedule` for its sensor and this job.

        Raises ValueError for no flex-model, or one without an int `sensor`
        (FlexMeasures 1.0.1 answers 500 or 422), before sending. The server's
        refusals map as for `trigger_schedule` (fixtures in
        tests/fixtures/site_schedule): a sensor not below the asset or twice
        in the list -> FlexMeasuresInvalidRequestError (422), an unknown
        sensor or asset -> FlexMeasuresNotFoundError, another account's asset
        -> FlexMeasuresAccessDeniedError (403).
        """
        models = [dict(model) for model in flex_models]
        if not models:
            raise ValueError("At least one flex-model is needed")
        if any(type(model.get("sensor")) is not int for model in models):
            raise ValueError("Each flex-model needs its power sensor's id (an int)")
        payload: dict[str, Any] = {
            "start": format_datetime(start),
            "duration": format_duration(duration),
            "flex-model": models,
        }
        if flex_context is not None:
            payload["flex-context"] = dict(flex_context)
        if force_new_job:
            payload["force-new-job-creation"] = True
        _, body = await self._request(
            "POST",
            f"{API_PREFIX}/assets/{asset_id}/schedules/trigger",
            json_body=payload,
            accept=frozenset({200, 202}),
        )
        return _job_id(body)

    async def get_schedule(
        self,
        sensor_id: int,
        job_id: str,
        *,
        resolution: timedelta,
        duration: timedelta | None = None,
    ) -> Schedule:
        """One request for a schedule.

        `resolution` is the power sensor's event resolution: the answer has
        none, so each value is one step of it from the schedule's start.
        Raises FlexMeasuresSchedulePendingError (202),
        FlexMeasuresScheduleFailedError (400 UNKNOWN_SCHEDULE), and
        FlexMeasuresUnexpectedResponseError for values that are not finite
        numbers, more values than the answer's duration holds, or a resolution
        that is not positive.
        """
        params = {"duration": format_duration(duration)} if duration else None
        try:
            status, body = await self._request(
                "GET",
                f"{API_PREFIX}/sensors/{sensor_id}/schedules/{job_id}",
                params=params,
                accept=frozenset({200, 202}),
            )
        except FlexMeasuresInvalidRequestError as err:
            if (
                err.status == 400
                and isinstance(err.details, Mapping)
                and err.details.get("status") == "UNKNOWN_SCHEDULE"
            ):
                raise FlexMeasuresScheduleFailedError(err.message) from err
            raise
        if status == 202:
            raise FlexMeasuresSchedulePendingError(
                server_message(body, status).replace("  was used.", "").strip()
            )
        return parse(
            lambda data: schedule_from_api(
                data, sensor_id=sensor_id, job_id=job_id, resolution=resolution
            ),
            body,
        )

    async def wait_for_schedule(
        self,
        sensor_id: int,
        job_id: str,
        *,
        resolution: timedelta,
        duration: timedelta | None = None,
        max_wait: float = 120.0,
        first_delay: float = 0.1,
        max_delay: float = 0.25,
        backoff: float = 1.5,
    ) -> Schedule:
        """Poll `get_schedule` (first_delay growing by `backoff` to max_delay).

        `resolution` is the power sensor's event resolution (see get_schedule).

        Raises FlexMeasuresSchedulePendingError when `max_wait` seconds pass.
        Defaults tuned with bench/schedule_latency.py: doubling to 2 s gave a
        median 1.35x the server's job time, 1.5x growth capped at 0.25 s 1.09x.
        A 202 poll is a tiny request, so polling 4x a second costs little.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        delay = first_delay
        while True:
            remaining = deadline - loop.time()
            await asyncio.sleep(max(0.0, min(delay, remaining)))
            try:
                return await self.get_schedule(
                    sensor_id, job_id, resolution=resolution, duration=duration
                )
            except FlexMeasuresSchedulePendingError:
                if loop.time() >= deadline:
                    raise
            delay = min(delay * backoff, max_delay)

    async def get_job_status(self, job_id: str) -> JobStatus:
        """`GET /api/v3_0/jobs/<uuid>`.

        The server answers 422 for a failed job, with the job's fields: that is
        a status too (`status` "FAILED"), not an error.
        """
        try:
            _, body = await self._request("GET", f"{API_PREFIX}/jobs/{job_id}")
        except FlexMeasuresResponseError as err:
            details = err.details
            if (
                err.status == 422
                and isinstance(details, Mapping)
                and ("enqueued_at" in details or "enqueued-at" in details)
            ):
                body = details
            else:
                raise
        return parse(lambda data: job_status_from_api(data, job_id=job_id), body)


def _job_id(body: Any) -> str:
    """The job uuid of a trigger's answer."""
    job = body.get("schedule") or body.get("job") if isinstance(body, Mapping) else None
    if not isinstance(job, str) or not job:
        raise FlexMeasuresUnexpectedResponseError("No job id in the answer")
    return job
