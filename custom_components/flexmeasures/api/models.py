"""Data models of the FlexMeasures API (plain dataclasses, aware datetimes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
import math
import re
from typing import Any


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What `GET /api/` says about the server."""

    version: str
    api_versions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Account:
    """A FlexMeasures account."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class User:
    """The logged-in user."""

    id: int
    email: str
    username: str
    account_id: int
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class Asset:
    """A generic asset; JSON-in-string fields are parsed."""

    id: int
    name: str
    account_id: int | None
    asset_type: str
    parent_asset_id: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    flex_context: dict[str, Any] = field(default_factory=dict)
    flex_model: dict[str, Any] = field(default_factory=dict)
    sensor_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Sensor:
    """A sensor: where measurements go and schedules come from."""

    id: int
    name: str
    unit: str
    event_resolution: timedelta
    timezone: str
    asset_id: int | None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SensorData:
    """Values of a sensor at a fixed resolution; None for a missing value.

    A gap is None: FlexMeasures' `null`, and also a non-finite value (`NaN`,
    `Infinity`), which is no measurement either. Any value that is not a
    number at all (a string, a boolean) makes the whole answer invalid.
    """

    start: datetime
    resolution: timedelta
    unit: str
    values: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule for one power sensor (consumption positive).

    `values` are finite numbers, one per step of `resolution` (the power
    sensor's resolution) from `start`; the schedule ends after the last value.
    """

    sensor_id: int
    job_id: str
    start: datetime
    resolution: timedelta
    unit: str
    values: tuple[float, ...]
    scheduler_info: dict[str, Any] = field(default_factory=dict)

    @property
    def end(self) -> datetime:
        """The end of the last step, in UTC.

        Step arithmetic is done in UTC: Python adds to a datetime with a
        ZoneInfo on the wall clock, which is wrong across a DST change.
        """
        return self.start.astimezone(UTC) + self.resolution * len(self.values)

    def step_index(self, when: datetime) -> int | None:
        """The index of the step covering `when`, or None outside the schedule.

        Raises ValueError for a naive `when`.
        """
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError(f"naive datetime: {when!r}")
        if not self.values:
            return None
        offset = when.astimezone(UTC) - self.start.astimezone(UTC)
        if offset < timedelta(0):
            return None
        index = offset // self.resolution
        return index if index < len(self.values) else None

    def value_at(self, when: datetime) -> float | None:
        """The value of the step covering `when`, or None outside the schedule."""
        index = self.step_index(when)
        return None if index is None else self.values[index]


@dataclass(frozen=True, slots=True)
class JobStatus:
    """What `GET /api/v3_0/jobs/<uuid>` says about a scheduling job."""

    job_id: str
    status: str
    enqueued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    message: str | None = None


# --- Parsing helpers (the API's wire formats) ---------------------------------

_DURATION_RE = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str) -> timedelta:
    """Parse an ISO 8601 duration without years/months ("PT15M", "P1D", "PT0H")."""
    text = value.strip().upper()
    match = _DURATION_RE.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"Not an ISO 8601 duration of fixed length: {value!r}")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return timedelta(**parts)


def format_duration(value: timedelta) -> str:
    """Format a timedelta as an ISO 8601 duration ("PT15M", "PT1H", "P1D")."""
    if value < timedelta(0):
        raise ValueError("A duration cannot be negative")
    total_us = value // timedelta(microseconds=1)
    days, rest_us = divmod(total_us, 86_400_000_000)
    hours, rest_us = divmod(rest_us, 3_600_000_000)
    minutes, rest_us = divmod(rest_us, 60_000_000)
    seconds, micros = divmod(rest_us, 1_000_000)
    out = "P" + (f"{days}D" if days else "")
    time = ""
    if hours:
        time += f"{hours}H"
    if minutes:
        time += f"{minutes}M"
    if seconds or micros:
        time += f"{seconds}.{micros:06d}".rstrip("0").rstrip(".") + "S"
    if time:
        out += "T" + time
    elif not days:
        out = "PT0S"
    return out


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 datetime; keep its offset, assume UTC when it has none."""
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_datetime(value: datetime) -> str:
    """Format an aware datetime for the API; naive datetimes are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("Datetimes sent to FlexMeasures must be timezone-aware")
    return value.isoformat()


def parse_json_field(value: Any) -> dict[str, Any]:
    """A field the API sends as JSON inside a string (or already as an object).

    Tolerant: empty, null, invalid JSON (or nested too deep to decode) or a
    non-object gives `{}`.
    """
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str) and value.strip():
        try:
            decoded = json.loads(value)
        except ValueError, RecursionError:
            return {}
        if isinstance(decoded, dict):
            return decoded
    return {}


def finite_number(value: Any) -> float:
    """A JSON number as a finite float; anything else raises (TypeError/ValueError).

    Refused: strings (even "1.5"), booleans, null, lists, NaN and infinities,
    and integers too large for a float (OverflowError).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {number}")
    return number


def _values(value: Any) -> list[Any]:
    """The `values` list of an answer."""
    if not isinstance(value, list):
        raise TypeError(f"values is not a list: {type(value).__name__}")
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_datetime(value: Any) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) and value else None


def server_info_from_api(data: Mapping[str, Any]) -> ServerInfo:
    """`GET /api/`."""
    return ServerInfo(
        version=str(data["flexmeasures_version"]),
        api_versions=tuple(str(v) for v in data.get("versions", ())),
    )


def account_from_api(data: Mapping[str, Any]) -> Account:
    """`GET /accounts/<id>`."""
    return Account(id=int(data["id"]), name=str(data["name"]))


def user_from_api(data: Mapping[str, Any]) -> User:
    """`GET /users/<id>`."""
    return User(
        id=int(data["id"]),
        email=str(data["email"]),
        username=str(data.get("username") or data["email"]),
        account_id=int(data["account_id"]),
        timezone=data.get("timezone"),
    )


def asset_from_api(data: Mapping[str, Any]) -> Asset:
    """One asset of `GET /assets` or `GET /assets/<id>`."""
    asset_type = data.get("generic_asset_type")
    type_name = (
        asset_type.get("name") if isinstance(asset_type, Mapping) else asset_type
    )
    sensors = data.get("sensors") or ()
    return Asset(
        id=int(data["id"]),
        name=str(data["name"]),
        account_id=_opt_int(data.get("account_id")),
        asset_type=str(type_name or ""),
        parent_asset_id=_opt_int(data.get("parent_asset_id")),
        latitude=_opt_float(data.get("latitude")),
        longitude=_opt_float(data.get("longitude")),
        attributes=parse_json_field(data.get("attributes")),
        flex_context=parse_json_field(data.get("flex_context")),
        flex_model=parse_json_field(data.get("flex_model")),
        sensor_ids=tuple(
            int(s["id"]) if isinstance(s, Mapping) else int(s) for s in sensors
        ),
    )


def sensor_from_api(data: Mapping[str, Any]) -> Sensor:
    """One sensor of `GET /sensors` or `GET /sensors/<id>`."""
    return Sensor(
        id=int(data["id"]),
        name=str(data["name"]),
        unit=str(data.get("unit") or ""),
        event_resolution=parse_duration(str(data.get("event_resolution") or "PT0S")),
        timezone=str(data.get("timezone") or "UTC"),
        asset_id=_opt_int(data.get("generic_asset_id", data.get("asset_id"))),
        attributes=parse_json_field(data.get("attributes")),
    )


def _measurement(value: Any) -> float | None:
    """One value of sensor data: None for a gap (null or non-finite)."""
    if value is None:
        return None
    try:
        return finite_number(value)
    except ValueError, OverflowError:
        if isinstance(value, float | int):
            return None
        raise


def sensor_data_from_api(data: Mapping[str, Any]) -> SensorData:
    """`GET /sensors/<id>/data`; null and non-finite values are gaps (None)."""
    values = tuple(_measurement(v) for v in _values(data["values"]))
    if data.get("resolution"):
        resolution = parse_duration(str(data["resolution"]))
    else:
        resolution = parse_duration(str(data["duration"])) / max(len(values), 1)
    return SensorData(
        start=parse_datetime(str(data["start"])),
        resolution=resolution,
        unit=str(data.get("unit") or ""),
        values=values,
    )


def schedule_from_api(
    data: Mapping[str, Any],
    *,
    sensor_id: int,
    job_id: str,
    resolution: timedelta,
) -> Schedule:
    """`GET /sensors/<id>/schedules/<uuid>` (200); the start keeps its offset.

    The answer carries no resolution: the steps are the power sensor's
    `resolution`, from `start`, one per value. Fewer values than the answer's
    duration is fine (the plan ends earlier); more than fit in it, a value that
    is not a finite number, or a resolution that is not positive raise
    ValueError/TypeError (the client makes that an unexpected response).
    """
    if resolution <= timedelta(0):
        raise ValueError(
            f"a schedule needs a sensor resolution longer than zero, not {resolution}"
        )
    values = tuple(finite_number(v) for v in _values(data["values"]))
    duration = parse_duration(_text(data["duration"]))
    if resolution * len(values) > duration:
        raise ValueError(
            f"{len(values)} values of {resolution} do not fit in the "
            f"schedule's duration of {duration}"
        )
    info = data.get("scheduler_info")
    return Schedule(
        sensor_id=sensor_id,
        job_id=job_id,
        start=parse_datetime(_text(data["start"])),
        resolution=resolution,
        unit=str(data.get("unit") or ""),
        values=values,
        scheduler_info=dict(info) if isinstance(info, Mapping) else {},
    )


def _text(value: Any) -> str:
    """A field that must be a string."""
    if not isinstance(value, str):
        raise TypeError(f"not a string: {type(value).__name__}")
    return value


def job_status_from_api(data: Mapping[str, Any], *, job_id: str) -> JobStatus:
    """`GET /jobs/<uuid>` (both `enqueued_at` and `enqueued-at` spellings)."""

    def pick(name: str) -> Any:
        return data.get(name, data.get(name.replace("_", "-")))

    message = data.get("message")
    return JobStatus(
        job_id=job_id,
        status=str(data.get("status") or ""),
        enqueued_at=_opt_datetime(pick("enqueued_at")),
        started_at=_opt_datetime(pick("started_at")),
        ended_at=_opt_datetime(pick("ended_at")),
        message=message if isinstance(message, str) else None,
    )
