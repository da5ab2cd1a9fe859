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
from .const import (
    CONF_ASSET,
    CONF_DEVICES,
    CONF_DURATION,
    CONF_POWER_SENSOR,
    CONF_SITE_POWER_CAPACITY,
    CONF_UPDATE_INTERVAL,
    DEFAULT_DURATION,
    DEFAULT_UPDATE_INTERVAL,
    LOGGER,
    SUBENTRY_TYPE_SCHEDULE,
    SUBENTRY_TYPE_SITE,
)
from .flow_helpers import (
    PRICE_KEYS,
    SubentryFormFlow,
    async_read_or_keep,
    default_name_errors,
    dropdown,
    form_name,
    horizon_fields,
    loaded_data,
    name_errors,
    number,
    option_values,
    price_fields,
    price_options,
    read_errors,
    site_of_device,
    stored_prices,
)
from .requests import ASSET_PRICE

# How an asset shows in the drop-down: its name and how many devices it holds.
ASSET_LABEL: Final = "{name} ({count} scheduled device{plural})"


@dataclass(frozen=True, slots=True)
class Device:
    """A schedule sub-entry of the account: its power sensor, title and asset."""

    power_sensor: str
    title: str
    asset_id: int


@dataclass(frozen=True, slots=True)
class Catalogue:
    """What the server said when the first step was shown."""

    assets: dict[int, Asset]  # the account's own and public ones
    sensor_assets: dict[str, int]  # power sensor id -> its asset's id
    prices: list[SelectOptionDict]


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
    devices: list[Device] = []
    for subentry in subentries:
        if subentry.subentry_type != SUBENTRY_TYPE_SCHEDULE:
            continue
        sensor = str(subentry.data.get(CONF_POWER_SENSOR) or "")
        asset_id = catalogue.sensor_assets.get(sensor)
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
    return {
        str(subentry.data.get(CONF_ASSET))
        for subentry in subentries
        if subentry.subentry_type == SUBENTRY_TYPE_SITE
        and (own is None or subentry.subentry_id != own.subentry_id)
    }


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


async def _async_catalogue(client: FlexMeasuresClient) -> Catalogue:
    """Assets, which asset each sensor is on, and the price drop-down."""
    assets = {asset.id: asset for asset in await client.get_assets(include_public=True)}
    sensors = await client.get_sensors(include_public=True)
    return Catalogue(
        assets=assets,
        sensor_assets={
            str(s.id): s.asset_id for s in sensors if s.asset_id is not None
        },
        prices=price_options(sensors, assets),
    )


class SiteSubentryFlowHandler(SubentryFormFlow):
    """Add or reconfigure a site: devices below one asset, planned together.

    The drop-downs are filled from the server, so the account's entry must be
    loaded. The title is the name (the asset's name unless one is given); a
    reconfigure shows it and keeps it unless the name field changes it.
    """

    def __init__(self) -> None:
        """Nothing chosen yet."""
        super().__init__()
        self._catalogue: Catalogue | None = None
        self._name = ""
        self._asset: Asset | None = None

    async def _async_step_form(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        """Step 1: the name and the asset."""
        entry = self._get_entry()
        own = self._own()
        if (data := loaded_data(entry)) is None:
            return self.async_abort(reason="entry_not_loaded")
        client = data.client
        errors: dict[str, str] = {}
        if user_input is not None:
            chosen = str(user_input[CONF_ASSET])
            if chosen in site_assets(entry.subentries.values(), own):
                # another form saved a site on it while this one was open
                return self.async_abort(reason="already_configured")
            name = form_name(user_input)
            errors = name_errors(name) or await self._async_check_asset(client, chosen)
            if not errors and own is None and self._asset is not None:
                errors = default_name_errors(name, self._asset.name)
            if not errors:
                self._name = name
                return await self.async_step_devices()
        try:
            self._catalogue = catalogue = await async_read_or_keep(
                self._catalogue, user_input, lambda: _async_catalogue(client)
            )
        except FlexMeasuresError as err:
            LOGGER.debug("Cannot list the assets at %s: %s", client.url, err)
            return self.async_abort(reason="cannot_connect")
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
            user_input
            if user_input is not None
            else {}
            if own is None
            else {CONF_NAME: own.title, CONF_ASSET: str(own.data.get(CONF_ASSET))}
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
    ) -> dict[str, str]:
        """Read the chosen asset from the server; the form errors if that fails."""
        try:
            self._asset = await client.get_asset(int(chosen))
        except FlexMeasuresError as err:
            return read_errors(err, CONF_ASSET, "asset_not_found", "asset")
        return {}

    async def async_step_devices(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Step 2: the devices below the asset and the site's settings."""
        entry = self._get_entry()
        own = self._own()
        if (data := loaded_data(entry)) is None:
            return self.async_abort(reason="entry_not_loaded")
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
                return self._async_save(own, asset, user_input)
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

    def _async_save(
        self, own: ConfigSubentry | None, asset: Asset, user_input: Mapping[str, Any]
    ) -> SubentryFlowResult:
        """Create the site, or update the one being reconfigured."""
        values = _site_data(asset, user_input)
        unique_id = site_unique_id(asset.id)
        if own is None:
            return self.async_create_entry(
                title=self._name or asset.name, data=values, unique_id=unique_id
            )
        # The entry's update listener reloads it (never reload here too).
        return self.async_update_and_abort(
            self._get_entry(),
            own,
            title=self._name or own.title,
            data=values,
            unique_id=unique_id,
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
        stored_data = option_values(own.data, (*PRICE_KEYS, CONF_DEVICES))
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
        schedules = [
            subentry.data
            for subentry in subentries
            if subentry.subentry_type == SUBENTRY_TYPE_SCHEDULE
            and str(subentry.data.get(CONF_POWER_SENSOR)) in sensors
        ]
        suggested = {CONF_DEVICES: sensors}
        for key in PRICE_KEYS:
            if (
                price := _agreed(schedule.get(key) for schedule in schedules)
            ) is not None:
                suggested[key] = price
    for key in PRICE_KEYS:
        if key in suggested and suggested[key] in (None, ""):
            suggested[key] = ASSET_PRICE
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
    values |= stored_prices(user_input)
    values[CONF_DURATION] = user_input.get(CONF_DURATION, DEFAULT_DURATION)
    values[CONF_UPDATE_INTERVAL] = user_input.get(
        CONF_UPDATE_INTERVAL, DEFAULT_UPDATE_INTERVAL
    )
    return values
