"""Sub-entry flow "site": schedule devices below one asset, planned in one job.

Step 1 picks the asset (the home with its grid connection) from the
account's assets that have scheduled devices at or below them; step 2 picks
those devices (this entry's schedule sub-entries, stored as their power
sensor ids) and the site's settings: its power capacity, prices, horizon and
update interval. A device belongs to at most one site, an asset has at most
one site.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from homeassistant.config_entries import (
    ConfigSubentry,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME, UnitOfPower
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
import probatio

from .api import (
    Asset,
    FlexMeasuresClient,
    FlexMeasuresError,
)
from .const import CONF_ASSET, CONF_DEVICES, CONF_POWER_SENSOR, CONF_SITE_POWER_CAPACITY
from .flow_helpers import (
    PRICE_KEYS,
    Catalogue,
    SubentryFormFlow,
    dropdown,
    form_values,
    horizon_fields,
    number,
    price_fields,
    read_errors,
    schedules,
    site_of_device,
    sites,
    stored_settings,
)

# How an asset shows in the drop-down: its name and how many devices it holds.
ASSET_LABEL: Final = "{name} ({count} scheduled device{plural})"


@dataclass(frozen=True, slots=True)
class Device:
    """A schedule sub-entry of the account: its power sensor, title and asset."""

    power_sensor: str
    title: str
    asset_id: int


def ancestry(asset_id: int, assets: Mapping[int, Asset]) -> list[int]:
    """The asset and its parents up the `parent_asset_id` chain (known ones)."""
    chain: list[int] = []
    current: int | None = asset_id
    while current is not None and current not in chain:
        chain.append(current)
        parent = assets.get(current)
        current = None if parent is None else parent.parent_asset_id
    return chain


def scheduled_devices(
    subentries: Iterable[ConfigSubentry], catalogue: Catalogue, account_id: int
) -> list[Device]:
    """The account's schedule sub-entries whose power sensor is on its own asset."""
    sensor_assets = {
        str(s.id): s.asset_id for s in catalogue.sensors if s.asset_id is not None
    }
    devices: list[Device] = []
    for subentry in schedules(subentries):
        sensor = str(subentry.data.get(CONF_POWER_SENSOR) or "")
        asset_id = sensor_assets.get(sensor)
        if asset_id is None or (asset := catalogue.assets.get(asset_id)) is None:
            continue
        if asset.account_id == account_id:
            devices.append(Device(sensor, subentry.title, asset_id))
    return devices


def free_devices(
    subentries: Iterable[ConfigSubentry],
    catalogue: Catalogue,
    account_id: int,
    own: ConfigSubentry | None,
) -> list[Device]:
    """Scheduled devices in no site but `own` (a device is in at most one site)."""
    subentries = list(subentries)
    return [
        device
        for device in scheduled_devices(subentries, catalogue, account_id)
        if site_of_device(subentries, device.power_sensor, own) is None
    ]


def devices_below(
    asset_id: int, devices: Iterable[Device], assets: Mapping[int, Asset]
) -> list[Device]:
    """The devices on this asset or on an asset below it."""
    return [d for d in devices if asset_id in ancestry(d.asset_id, assets)]


def site_assets(
    subentries: Iterable[ConfigSubentry], own: ConfigSubentry | None
) -> set[str]:
    """The assets (ids as strings) that sites other than `own` plan."""
    return {str(site.data.get(CONF_ASSET)) for site in sites(subentries, own)}


def asset_options(
    catalogue: Catalogue, devices: list[Device], account_id: int, taken: set[str]
) -> list[SelectOptionDict]:
    """The account's assets with devices at or below them, most devices first."""
    counted: list[tuple[int, str, str]] = []
    for asset in catalogue.assets.values():
        if asset.account_id != account_id or str(asset.id) in taken:
            continue
        if count := len(devices_below(asset.id, devices, catalogue.assets)):
            counted.append((count, asset.name, str(asset.id)))
    counted.sort(key=lambda item: (-item[0], item[1].casefold(), item[2]))
    return [
        SelectOptionDict(
            value=value,
            label=ASSET_LABEL.format(
                name=name, count=count, plural="" if count == 1 else "s"
            ),
        )
        for count, name, value in counted
    ]


class SiteSubentryFlowHandler(SubentryFormFlow):
    """Add or reconfigure a site: devices below one asset, planned together.

    The drop-downs are filled from the server, so the account's entry must be
    loaded. The title is the name (the asset's name unless one is given); a
    reconfigure shows it and keeps it unless the name field changes it.
    """

    def __init__(self) -> None:
        """Nothing chosen yet."""
        super().__init__()
        self._title = ""
        self._asset: Asset | None = None

    async def _async_step_form(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        """Step 1: the name and the asset."""
        entry = self._get_entry()
        own = self._own()
        data = self._loaded_data()
        client = data.client
        errors: dict[str, str] = {}
        if user_input is not None:
            chosen = str(user_input[CONF_ASSET])
            if chosen in site_assets(entry.subentries.values(), own):
                # another form saved a site on it while this one was open
                return self.async_abort(reason="already_configured")
            errors, self._title = await self._async_check_name(
                user_input, lambda: self._async_check_asset(client, chosen)
            )
            if not errors:
                return await self.async_step_devices()
        catalogue = await self._async_catalogue(client, user_input)
        account_id = data.account.id
        if not scheduled_devices(entry.subentries.values(), catalogue, account_id):
            return self.async_abort(reason="no_scheduled_devices")
        options = asset_options(
            catalogue,
            free_devices(entry.subentries.values(), catalogue, account_id, own),
            account_id,
            site_assets(entry.subentries.values(), own),
        )
        if not options:
            return self.async_abort(reason="no_devices_left")
        suggested: Mapping[str, Any] = (
            user_input if user_input is not None else self._stored_values((CONF_ASSET,))
        )
        schema = probatio.Schema(
            {
                probatio.Optional(CONF_NAME): TextSelector(),
                probatio.Required(CONF_ASSET): dropdown(options),
            }
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={"account": data.account.name},
        )

    async def _async_check_asset(
        self, client: FlexMeasuresClient, chosen: str
    ) -> tuple[dict[str, str], str]:
        """Read the chosen asset from the server: the form errors and its name."""
        try:
            self._asset = await client.get_asset(int(chosen))
        except FlexMeasuresError as err:
            return read_errors(err, CONF_ASSET, "asset_not_found", "asset"), ""
        return {}, self._asset.name

    async def async_step_devices(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Step 2: the devices below the asset and the site's settings."""
        entry = self._get_entry()
        own = self._own()
        data = self._loaded_data()
        catalogue, asset = self._catalogue, self._asset
        if catalogue is None or asset is None:  # pragma: no cover - step 1 first
            return self.async_abort(reason="unknown")
        offered = devices_below(
            asset.id,
            free_devices(entry.subentries.values(), catalogue, data.account.id, own),
            catalogue.assets,
        )
        if not offered:
            return self.async_abort(reason="no_devices_left")
        placeholders = {"account": data.account.name, "asset": asset.name}
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = _check_devices(
                entry.subentries.values(), user_input, offered, own, placeholders
            )
            if not errors:
                return self._async_save(
                    self._title, _site_data(asset, user_input), site_unique_id(asset.id)
                )
        suggested: Mapping[str, Any] = (
            user_input
            if user_input is not None
            else _suggested(entry.subentries.values(), own, asset, offered)
        )
        return self.async_show_form(
            step_id="devices",
            data_schema=self.add_suggested_values_to_schema(
                _devices_schema(offered, catalogue.prices), suggested
            ),
            errors=errors,
            description_placeholders=placeholders,
        )


def site_unique_id(asset_id: int) -> str:
    """A site's unique id: its asset (one site per asset).

    Prefixed: Home Assistant compares unique ids across all sub-entry types,
    and a schedule's is its power sensor's id.
    """
    return f"site_{asset_id}"


def _check_devices(
    subentries: Iterable[ConfigSubentry],
    user_input: Mapping[str, Any],
    offered: list[Device],
    own: ConfigSubentry | None,
    placeholders: dict[str, str],
) -> dict[str, str]:
    """The form errors of step 2 (and the placeholders their texts need)."""
    chosen = [str(device) for device in user_input.get(CONF_DEVICES) or ()]
    if not chosen:
        return {CONF_DEVICES: "no_devices"}
    sensors = {device.power_sensor for device in offered}
    for sensor in chosen:
        if sensor in sensors:
            continue
        if (site := site_of_device(subentries, sensor, own)) is not None:
            # another form put it in a site while this one was open
            placeholders["site"] = site.title
            return {CONF_DEVICES: "device_in_site"}
        return {CONF_DEVICES: "device_gone"}
    capacity = user_input.get(CONF_SITE_POWER_CAPACITY)
    if capacity is not None and float(capacity) <= 0:
        return {CONF_SITE_POWER_CAPACITY: "capacity_not_positive"}
    return {}


def _agreed(values: Iterable[Any]) -> Any:
    """The one value all give (None when they differ or give none)."""
    seen = {str(value) for value in values if value not in (None, "")}
    return seen.pop() if len(seen) == 1 else None


def _suggested(
    subentries: Iterable[ConfigSubentry],
    own: ConfigSubentry | None,
    asset: Asset,
    offered: list[Device],
) -> dict[str, Any]:
    """What step 2 shows first.

    A reconfigure: the site's settings, its devices that are still offered.
    A new site: all devices offered, and the prices they agree on.
    """
    sensors = [device.power_sensor for device in offered]
    if own is not None:
        stored_data = form_values(own.data, (CONF_DEVICES,))
        suggested: dict[str, Any] = {
            key: value
            for key, value in stored_data.items()
            if key not in (CONF_ASSET, CONF_DEVICES)
        }
        stored = list(stored_data.get(CONF_DEVICES, ()))
        if str(own.data.get(CONF_ASSET)) == str(asset.id):
            suggested[CONF_DEVICES] = [d for d in stored if d in sensors]
        else:
            suggested[CONF_DEVICES] = [d for d in sensors if d in stored] or sensors
    else:
        devices = [
            schedule.data
            for schedule in schedules(subentries)
            if str(schedule.data.get(CONF_POWER_SENSOR)) in sensors
        ]
        suggested = {CONF_DEVICES: sensors}
        for key in PRICE_KEYS:
            if (price := _agreed(device.get(key) for device in devices)) is not None:
                suggested[key] = price
    return suggested


def _devices_schema(
    offered: list[Device], prices: list[SelectOptionDict]
) -> probatio.Schema:
    """Step 2: the devices (their titles) and the site's settings."""
    devices = SelectSelector(
        SelectSelectorConfig(
            options=[
                SelectOptionDict(value=device.power_sensor, label=device.title)
                for device in offered
            ],
            multiple=True,
            mode=SelectSelectorMode.LIST,
        )
    )
    return probatio.Schema(
        {
            probatio.Required(CONF_DEVICES): devices,
            probatio.Optional(CONF_SITE_POWER_CAPACITY): number(UnitOfPower.KILO_WATT),
            **price_fields(prices),
            **horizon_fields(),
        }
    )


def _site_data(asset: Asset, user_input: Mapping[str, Any]) -> dict[str, Any]:
    """What a site sub-entry stores (ids as strings; the title is the name)."""
    values: dict[str, Any] = {
        CONF_ASSET: str(asset.id),
        CONF_DEVICES: [str(device) for device in user_input[CONF_DEVICES]],
    }
    if (capacity := user_input.get(CONF_SITE_POWER_CAPACITY)) is not None:
        values[CONF_SITE_POWER_CAPACITY] = float(capacity)
    return values | stored_settings(user_input)
