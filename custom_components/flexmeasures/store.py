"""What an account keeps across restarts, to run while its server is unreachable.

Per config entry one `Store` (`flexmeasures.state.<entry_id>`): the account as
the server described it (server version, user, account), since when the server
has not answered (until it answers again), per schedule device
the last good schedule (with when it arrived and its job id) and the power
sensor's facts, per schedule device and site the consumption price's source
and its last forecast, per measurement the FlexMeasures sensor's facts (unit,
resolution, time zone). Saved when something changes; entries of removed
sub-entries are dropped at the next setup; the whole store goes with the entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import math
from typing import Any, Final, Self

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .api import Account, Schedule, Sensor, ServerInfo, User
from .api.models import format_duration, parse_datetime, parse_duration
from .const import DOMAIN, LOGGER
from .price_reader import KeptPrice
from .prices import FixedPrice, PriceSensor, PriceSource
from .schedule import Segment

STORAGE_VERSION: Final = 1
SAVE_DELAY: Final = 2.0
# no outage of this integration began before: an older kept since is damaged
# (e.g. a clock at 1970 when it was noticed)
EARLIEST_SINCE: Final = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StoredAccount:
    """The account as the server last described it."""

    server_info: ServerInfo
    user: User
    account: Account

    @classmethod
    def from_store(cls, raw: Any) -> Self | None:
        """The account as stored; None when nothing (usable) was stored."""
        if not isinstance(raw, Mapping):
            return None
        try:
            return cls(
                ServerInfo(
                    version=str(raw["server_version"]),
                    api_versions=tuple(str(v) for v in raw["api_versions"]),
                ),
                User(
                    id=int(raw["user_id"]),
                    email=str(raw["email"]),
                    username=str(raw["username"]),
                    account_id=int(raw["account_id"]),
                    timezone=raw.get("timezone"),
                ),
                Account(id=int(raw["account_id"]), name=str(raw["account_name"])),
            )
        except KeyError, TypeError, ValueError:
            return None

    def to_store(self) -> dict[str, Any]:
        """What is stored of it."""
        return {
            "server_version": self.server_info.version,
            "api_versions": list(self.server_info.api_versions),
            "user_id": self.user.id,
            "email": self.user.email,
            "username": self.user.username,
            "timezone": self.user.timezone,
            "account_id": self.account.id,
            "account_name": self.account.name,
        }


@dataclass(frozen=True, slots=True)
class StoredPlan:
    """The last good schedule of a device and when it arrived."""

    schedule: Schedule
    arrived: datetime


def entry_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """The Store of an entry's kept state."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.state.{entry_id}")


class EntryStore:
    """The kept state of one config entry (account, plans, sensor facts)."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Nothing is loaded yet."""
        self._hass = hass
        self._store = entry_store(hass, entry_id)
        self._data: dict[str, Any] = {}

    async def async_load(self, subentry_ids: Iterable[str]) -> None:
        """Load what was kept, dropping what removed sub-entries left."""
        try:
            loaded = await self._store.async_load()
        except Exception:  # noqa: BLE001 - a broken file must not stop the entry
            LOGGER.warning("Could not read the kept FlexMeasures state", exc_info=True)
            loaded = None
        self._data = loaded if isinstance(loaded, dict) else {}
        keep = set(subentry_ids)
        for section in ("plans", "sensors", "prices", "sites"):
            items = self._data.get(section)
            if not isinstance(items, dict):
                items = self._data[section] = {}
            for subentry_id in [key for key in items if key not in keep]:
                del items[subentry_id]

    # -- the account -------------------------------------------------------

    @property
    def account(self) -> StoredAccount | None:
        """The account as kept, or None when the server was never reached."""
        return StoredAccount.from_store(self._data.get("account"))

    def keep_account(
        self, server_info: ServerInfo, user: User, account: Account
    ) -> None:
        """Keep the account as the server describes it now."""
        self._set("account", StoredAccount(server_info, user, account).to_store())

    # -- the outage --------------------------------------------------------

    @property
    def disconnected_since(self) -> datetime | None:
        """Since when the server has not answered; None when it answered last.

        Also None in a store from before this was kept: nobody knows.
        A kept time that cannot be used (damaged, before `EARLIEST_SINCE`,
        or out of range in the local time zone) is None as well: now is the
        best known.
        """
        raw = self._data.get("disconnected_since")
        if raw is None:
            return None
        try:
            since = dt_util.as_utc(parse_datetime(str(raw)))
            dt_util.as_local(since)  # shown in the local time zone
        except ValueError, OverflowError:
            return None
        return since if since >= EARLIEST_SINCE else None

    @property
    def last_answer(self) -> datetime | None:
        """When the server answered last as far as kept: the latest plan's arrival."""
        arrivals = [
            plan.arrived
            for subentry_id in self._data.get("plans", {})
            if (plan := self.plan(subentry_id)) is not None
        ]
        return max(arrivals, default=None)

    def keep_disconnected_since(self, since: datetime | None) -> None:
        """Keep since when the server has not answered (None: it answers).

        The end of an outage is written at once: a crash right after the
        server answered must not bring the old outage's start back.
        """
        if since is None and self._data.get("disconnected_since") is not None:
            self._data["disconnected_since"] = None
            self._hass.async_create_task(
                self._store.async_save(self._data), "flexmeasures save state"
            )
            return
        self._set("disconnected_since", None if since is None else since.isoformat())

    # -- sensors and plans -------------------------------------------------

    def sensor(self, subentry_id: str) -> Sensor | None:
        """A sub-entry's FlexMeasures sensor as kept."""
        return self._get_item("sensors", subentry_id, _sensor_from_store)

    def asset_power_capacity(self, subentry_id: str) -> float | None:
        """The power capacity (kW) of a schedule device's asset, as kept with its sensor."""
        return self._get_item("sensors", subentry_id, _capacity_from_store)

    def keep_sensor(
        self,
        subentry_id: str,
        sensor: Sensor,
        *,
        asset_power_capacity: float | None = None,
    ) -> None:
        """Keep a sub-entry's FlexMeasures sensor facts (a device's: its asset's power capacity too)."""
        raw = _sensor_to_store(sensor)
        if asset_power_capacity is not None:
            raw["asset_power_capacity"] = asset_power_capacity
        self._set_item("sensors", subentry_id, raw)

    def site_power_capacity(self, subentry_id: str, asset_id: int) -> float | None:
        """The site-power-capacity (kW) a site's asset stores, as kept for that asset."""
        kept = self._get_item("sites", subentry_id, _site_capacity_from_store)
        return None if kept is None or kept[0] != asset_id else kept[1]

    def keep_site_power_capacity(
        self, subentry_id: str, asset_id: int, capacity: float
    ) -> None:
        """Keep what a site's asset stores as its site-power-capacity (kW)."""
        self._set_item(
            "sites",
            subentry_id,
            {"asset_id": asset_id, "site_power_capacity": capacity},
        )

    def plan(self, subentry_id: str) -> StoredPlan | None:
        """A schedule device's last good schedule as kept."""
        return self._get_item("plans", subentry_id, _plan_from_store)

    def keep_plan(
        self, subentry_id: str, schedule: Schedule, arrived: datetime
    ) -> None:
        """Keep a schedule device's new schedule."""
        self._set_item("plans", subentry_id, _plan_to_store(schedule, arrived))

    def price(self, key: str) -> KeptPrice | None:
        """A device's (or site's) price source and last forecast as kept."""
        return self._get_item("prices", key, _price_from_store)

    def keep_price(self, key: str, kept: KeptPrice) -> None:
        """Keep a device's (or site's) price source and last forecast."""
        self._set_item("prices", key, _price_to_store(kept))

    async def async_save_now(self) -> None:
        """Write what is kept now (the entry unloads)."""
        await self._store.async_save(self._data)

    async def async_remove(self) -> None:
        """Forget everything (the entry is removed)."""
        await self._store.async_remove()

    # -- reading and saving ------------------------------------------------

    def _get_item[T](
        self, section: str, key: str, parse: Callable[[Mapping[str, Any]], T]
    ) -> T | None:
        """An item as kept; None when none is, or it is damaged (does not parse)."""
        raw = self._data.get(section, {}).get(key)
        try:
            return None if raw is None else parse(raw)
        except KeyError, TypeError, ValueError, OverflowError:
            return None

    def _set(self, key: str, value: Any) -> None:
        if self._data.get(key) != value:
            self._data[key] = value
            self._store.async_delay_save(lambda: self._data, SAVE_DELAY)

    def _set_item(self, section: str, key: str, value: Any) -> None:
        items: dict[str, Any] = self._data.setdefault(section, {})
        if items.get(key) != value:
            items[key] = value
            self._store.async_delay_save(lambda: self._data, SAVE_DELAY)


def _sensor_to_store(sensor: Sensor) -> dict[str, Any]:
    return {
        "id": sensor.id,
        "name": sensor.name,
        "unit": sensor.unit,
        "event_resolution": format_duration(sensor.event_resolution),
        "timezone": sensor.timezone,
        "asset_id": sensor.asset_id,
    }


def _capacity_from_store(raw: Mapping[str, Any]) -> float | None:
    return _positive_kw(raw.get("asset_power_capacity"))


def _site_capacity_from_store(raw: Mapping[str, Any]) -> tuple[int, float | None]:
    return int(raw["asset_id"]), _positive_kw(raw.get("site_power_capacity"))


def _positive_kw(capacity: object) -> float | None:
    """A kept power capacity; a damaged one (text, true, NaN, inf, <= 0) is none."""
    if not isinstance(capacity, int | float) or isinstance(capacity, bool):
        return None
    return float(capacity) if math.isfinite(capacity) and capacity > 0 else None


def _sensor_from_store(raw: Mapping[str, Any]) -> Sensor:
    asset_id = raw.get("asset_id")
    return Sensor(
        id=int(raw["id"]),
        name=str(raw["name"]),
        unit=str(raw["unit"]),
        event_resolution=parse_duration(str(raw["event_resolution"])),
        timezone=str(raw["timezone"]),
        asset_id=None if asset_id is None else int(asset_id),
    )


def _plan_to_store(schedule: Schedule, arrived: datetime) -> dict[str, Any]:
    return {
        "sensor_id": schedule.sensor_id,
        "job_id": schedule.job_id,
        "start": schedule.start.isoformat(),
        "resolution": format_duration(schedule.resolution),
        "unit": schedule.unit,
        "values": list(schedule.values),
        "scheduler_info": schedule.scheduler_info,
        "arrived": arrived.isoformat(),
    }


def _plan_from_store(raw: Mapping[str, Any]) -> StoredPlan:
    values = tuple(float(value) for value in raw["values"])
    resolution = parse_duration(str(raw["resolution"]))
    if not all(math.isfinite(value) for value in values) or resolution <= timedelta(0):
        raise ValueError("not a usable schedule")
    info = raw.get("scheduler_info")
    plan = StoredPlan(
        Schedule(
            sensor_id=int(raw["sensor_id"]),
            job_id=str(raw["job_id"]),
            start=parse_datetime(str(raw["start"])),
            resolution=resolution,
            unit=str(raw["unit"]),
            values=values,
            scheduler_info=dict(info) if isinstance(info, Mapping) else {},
        ),
        dt_util.as_utc(parse_datetime(str(raw["arrived"]))),
    )
    _ = plan.schedule.end  # raises OverflowError for an end past year 9999
    return plan


def _source_to_store(source: PriceSource | None) -> dict[str, Any] | None:
    if isinstance(source, PriceSensor):
        return {
            "kind": "sensor",
            "sensor_id": source.sensor_id,
            "unit": source.unit,
            "resolution": format_duration(source.resolution),
            "asset_id": source.asset_id,
        }
    if isinstance(source, FixedPrice):
        return {
            "kind": "fixed",
            "value": source.value,
            "unit": source.unit,
            "asset_id": source.asset_id,
        }
    return None


def _source_from_store(raw: Mapping[str, Any] | None) -> PriceSource | None:
    if raw is None:
        return None
    asset_id = raw.get("asset_id")
    asset = None if asset_id is None else int(asset_id)
    if raw["kind"] == "sensor":
        return PriceSensor(
            int(raw["sensor_id"]),
            str(raw["unit"]),
            parse_duration(str(raw["resolution"])),
            asset,
        )
    if raw["kind"] == "fixed":
        value = float(raw["value"])
        if not math.isfinite(value):
            raise ValueError("not a price")
        return FixedPrice(value, str(raw["unit"]), asset)
    raise ValueError(f"unknown price source {raw['kind']!r}")


def _price_to_store(kept: KeptPrice) -> dict[str, Any]:
    return {
        "configured_sensor_id": kept.configured_sensor_id,
        "source": _source_to_store(kept.source),
        "forecast": None
        if kept.forecast is None
        else [
            {
                "start": segment.start.isoformat(),
                "end": segment.end.isoformat(),
                "value": segment.value,
            }
            for segment in kept.forecast
        ],
        "forecast_unit": kept.forecast_unit,
        "forecast_source": _source_to_store(kept.forecast_source),
    }


def _price_from_store(raw: Mapping[str, Any]) -> KeptPrice:
    configured = raw.get("configured_sensor_id")
    forecast = raw.get("forecast")
    segments = (
        None
        if forecast is None
        else tuple(
            Segment(
                dt_util.as_utc(parse_datetime(str(item["start"]))),
                dt_util.as_utc(parse_datetime(str(item["end"]))),
                float(item["value"]),
            )
            for item in forecast
        )
    )
    if segments is not None and not all(
        math.isfinite(s.value) and s.end > s.start for s in segments
    ):
        raise ValueError("not a usable forecast")
    unit = raw.get("forecast_unit")
    return KeptPrice(
        None if configured is None else int(configured),
        _source_from_store(raw.get("source")),
        segments,
        None if unit is None else str(unit),
        _source_from_store(raw.get("forecast_source")),
    )
