"""What the sub-entry flows share: the loaded account, drop-down labels, selectors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
import re
from typing import Any, Final

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigSubentry,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME, UnitOfTime
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
from homeassistant.util import slugify
import probatio

from .api import (
    Asset,
    FlexMeasuresAccessDeniedError,
    FlexMeasuresClient,
    FlexMeasuresError,
    FlexMeasuresNotFoundError,
    Sensor,
)
from .const import (
    CONF_CONSUMPTION_PRICE_SENSOR,
    CONF_DEVICES,
    CONF_DURATION,
    CONF_POWER_SENSOR,
    CONF_PRODUCTION_PRICE_SENSOR,
    CONF_UPDATE_INTERVAL,
    DEFAULT_DURATION,
    DEFAULT_UPDATE_INTERVAL,
    LOGGER,
    SUBENTRY_TYPE_SCHEDULE,
    SUBENTRY_TYPE_SITE,
)
from .data import FlexMeasuresData
from .requests import ASSET_PRICE
from .units import is_price_unit

# The longest name a form takes: Home Assistant cuts entity ids at 255
# characters, and a device's entity ids are its name and the entity's key.
MAX_NAME_LENGTH: Final = 100
# The longest part of an entity id a name may make (Home Assistant writes other
# letters out in Latin: 60 Chinese characters make 360): with the domain and
# the entity's own name it stays within 255.
MAX_NAME_SLUG_LENGTH: Final = 200

# The price drop-downs of a schedule's and a site's form.
PRICE_KEYS: Final = (CONF_CONSUMPTION_PRICE_SENSOR, CONF_PRODUCTION_PRICE_SENSOR)

# The option meaning "no price sensor: use the flex-context on the asset".
ASSET_PRICE_LABEL: Final = "Use what is stored on the asset"


@dataclass(frozen=True, slots=True)
class Catalogue:
    """What the server listed when a form was shown: assets and sensors.

    The account's own and public ones (a public price sensor is offered too).
    """

    assets: dict[int, Asset]
    sensors: list[Sensor]

    @property
    def prices(self) -> list[SelectOptionDict]:
        """The price drop-down's options (`price_options`)."""
        return price_options(self.sensors, self.assets)


class SubentryFormFlow(ConfigSubentryFlow):
    """A sub-entry flow whose add and reconfigure open the same form.

    `_async_step_form` shows it (step `user` or `reconfigure`); `_own` is the
    sub-entry being reconfigured. A form filled from the server reads it with
    `_async_catalogue`; one whose title is the asset's name unless a name is
    given checks it with `_async_check_name` and saves with `_async_save`.
    """

    # what the server listed when the form was last shown
    _catalogue: Catalogue | None = None

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Add a sub-entry: the form, empty."""
        return await self._async_step_form("user", user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a sub-entry: the form, filled with what it holds."""
        return await self._async_step_form("reconfigure", user_input)

    async def _async_step_form(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> SubentryFlowResult:
        """Show the form of step `step_id`; validate what was entered."""
        raise NotImplementedError

    def _own(self) -> ConfigSubentry | None:
        """The sub-entry being reconfigured (None: a new one)."""
        if self.source == SOURCE_RECONFIGURE:
            return self._get_reconfigure_subentry()
        return None

    def _stored_values(self, keys: Iterable[str]) -> dict[str, Any]:
        """What the form shows first: nothing new, or the sub-entry's name and data.

        The data as `form_values` shows it, with the ids under `keys`.
        """
        if (own := self._own()) is None:
            return {}
        return {**form_values(own.data, keys), CONF_NAME: own.title}

    def _loaded_data(self) -> FlexMeasuresData:
        """The account's runtime data; the flow aborts when its entry is not loaded.

        The drop-downs are filled with the loaded entry's client.
        """
        if (data := loaded_data(self._get_entry())) is None:
            raise AbortFlow("entry_not_loaded")
        return data

    async def _async_catalogue(
        self, client: FlexMeasuresClient, user_input: Mapping[str, Any] | None
    ) -> Catalogue:
        """What the server lists for the form's drop-downs, or what it listed before.

        Read each time the form is shown. When the server cannot be read and
        the form is shown again after an error (input given), what was read
        before is kept: the server may have gone down since, and the form must
        come back with the error and what was typed rather than abort.
        Otherwise the flow aborts (`cannot_connect`).
        """
        try:
            assets = await client.get_assets(include_public=True)
            sensors = await client.get_sensors(include_public=True)
        except FlexMeasuresError as err:
            if user_input is None or self._catalogue is None:
                LOGGER.debug("Cannot list the assets at %s: %s", client.url, err)
                raise AbortFlow("cannot_connect") from err
            return self._catalogue
        self._catalogue = Catalogue({asset.id: asset for asset in assets}, sensors)
        return self._catalogue

    async def _async_check_name(
        self,
        user_input: Mapping[str, Any],
        validate: Callable[[], Awaitable[tuple[dict[str, str], str]]],
    ) -> tuple[dict[str, str], str]:
        """The form errors and the sub-entry's title: the name, else the asset's.

        The name is checked first, then the rest of the input by `validate`,
        which returns its errors and the asset's name. A reconfigure left
        without a name keeps its title ("": the one it has at `_async_save`); a
        new sub-entry takes the asset's name, and asks for one when too long.
        """
        name = form_name(user_input)
        if errors := name_errors(name):
            return errors, ""
        errors, asset_name = await validate()
        if errors:
            return errors, ""
        if name:
            return {}, name
        if self._own() is not None:
            return {}, ""
        if name_errors(asset_name):
            return {CONF_NAME: "asset_name_too_long"}, ""
        return {}, asset_name

    def _async_save(
        self, title: str, data: Mapping[str, Any], unique_id: str
    ) -> SubentryFlowResult:
        """Create the sub-entry, or update the one being reconfigured ("": kept)."""
        if (own := self._own()) is None:
            return self.async_create_entry(title=title, data=data, unique_id=unique_id)
        title = title or own.title  # as it is now: renamed while the form was open?
        # The entry's update listener reloads it (never reload here too).
        return self.async_update_and_abort(
            self._get_entry(), own, title=title, data=data, unique_id=unique_id
        )


def form_name(user_input: Mapping[str, Any]) -> str:
    """The name typed in a form ("" when none)."""
    return str(user_input.get(CONF_NAME) or "").strip()


def name_errors(name: str) -> dict[str, str]:
    """The form error of a name too long for a name or for entity ids (none: {})."""
    if len(name) > MAX_NAME_LENGTH:
        return {CONF_NAME: "name_too_long"}
    if len(slugify(name)) > MAX_NAME_SLUG_LENGTH:
        return {CONF_NAME: "name_too_long_for_ids"}
    return {}


def loaded_data(entry: ConfigEntry) -> FlexMeasuresData | None:
    """The account's runtime data, or None when its entry is not loaded.

    The sub-entry flows fill their drop-downs with the loaded entry's client.
    """
    if entry.state is not ConfigEntryState.LOADED:
        return None
    data: FlexMeasuresData = entry.runtime_data
    return data


def read_errors(
    err: FlexMeasuresError | ValueError, field: str, not_found: str, what: str
) -> dict[str, str]:
    """The form errors when `what` the user chose cannot be read from the server.

    Not there, not this account's, or not an id (ValueError): `not_found` on
    the field; any other failure: `cannot_connect`.
    """
    if isinstance(
        err, ValueError | FlexMeasuresNotFoundError | FlexMeasuresAccessDeniedError
    ):
        return {field: not_found}
    LOGGER.debug("Cannot read the %s: %s", what, err)
    return {"base": "cannot_connect"}


def option_values(data: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The data with the ids under `keys` as the drop-downs' option values.

    A drop-down's options are ids as strings; a sub-entry written by a script
    may hold ints (power_sensor: 8), which a form would show as nothing chosen
    and could not take back. Lists (a site's devices) are turned item by item;
    None stays None.
    """
    keys = set(keys)
    values = dict(data)
    for key in keys & values.keys():
        value = values[key]
        if isinstance(value, list | tuple):
            values[key] = [str(item) for item in value]
        elif value is not None:
            values[key] = str(value)
    return values


def form_values(data: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """A sub-entry's data as its form shows it first.

    The ids under `keys` and the prices as the drop-downs' option values
    (`option_values`); a price stored as "" (before the `asset` option) or not
    at all shows as `asset`, which is what the sub-entry uses.
    """
    values = option_values(data, (*keys, *PRICE_KEYS))
    for key in PRICE_KEYS:
        if values.get(key) in (None, ""):
            values[key] = ASSET_PRICE
    return values


def resolution_label(resolution: timedelta) -> str:
    """A sensor's resolution for people: `15 min`, `1 h`, `1 day`, `instantaneous`."""
    seconds = int(resolution.total_seconds())
    if seconds <= 0:
        return "instantaneous"
    if seconds % 86400 == 0:
        days = seconds // 86400
        return "1 day" if days == 1 else f"{days} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def sensor_label(sensor: Sensor, assets: Mapping[int, Asset]) -> str:
    """A drop-down label: `toy-battery / discharging (kW, 15 min)`."""
    asset = assets.get(sensor.asset_id) if sensor.asset_id is not None else None
    name = sensor.name if asset is None else f"{asset.name} / {sensor.name}"
    unit = sensor.unit or "no unit"
    return f"{name} ({unit}, {resolution_label(sensor.event_resolution)})"


class Storage(StrEnum):
    """Whether an asset type can store energy (and so be scheduled)."""

    YES = "yes"  # a battery, an EV charger, a heat pump or boiler, ...
    NO = "no"  # solar, PV, wind, a grid connection: it produces or meters
    UNKNOWN = "unknown"  # a building, a process, a type of one's own


# Asset types (FlexMeasures' generic asset type names, compared as words in
# lower case, "-" and "_" read as spaces) whose power cannot be shifted by
# storing energy. Storage words win: a "PV battery" stores.
NON_STORAGE_TYPES: Final = frozenset(
    {"solar", "pv", "wind", "wind turbine", "grid connection", "transmission zone"}
)
_NON_STORAGE_WORDS: Final = frozenset({"solar", "pv", "photovoltaic", "wind"})
_NON_STORAGE_PHRASES: Final = ("grid connection", "transmission zone")
_STORAGE_WORDS: Final = frozenset(
    {
        "battery",
        "batteries",
        "storage",
        "evse",
        "ev",
        "charger",
        "charging",
        "vehicle",
        "heat",
        "boiler",
        "buffer",
    }
)


def asset_storage(asset_type: str | None) -> Storage:
    """Whether an asset of this type can store energy, as far as its name tells."""
    text = " ".join(re.sub(r"[-_/]", " ", (asset_type or "").casefold()).split())
    words = set(text.split())
    if words & _STORAGE_WORDS:
        return Storage.YES
    if (
        text in NON_STORAGE_TYPES
        or words & _NON_STORAGE_WORDS
        or any(phrase in text for phrase in _NON_STORAGE_PHRASES)
    ):
        return Storage.NO
    return Storage.UNKNOWN


def dropdown(options: list[SelectOptionDict]) -> SelectSelector:
    """A drop-down of server objects (option values are ids as strings)."""
    return SelectSelector(
        SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN)
    )


class PriceSelector(SelectSelector):
    """A price drop-down whose "" means `asset`, as it did before `asset` existed.

    Home Assistant's form shows an option of value "" as nothing chosen, so the
    option is `asset` now; input that still says "" (a script, an old form in
    an open browser tab) is read as `asset`.
    """

    def __call__(self, data: Any) -> Any:
        """Validate the selection, "" read as `asset`."""
        return super().__call__(ASSET_PRICE if data == "" else data)


def price_dropdown(options: list[SelectOptionDict]) -> PriceSelector:
    """A drop-down of price sensors, with the `asset` option among the options."""
    return PriceSelector(
        SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN)
    )


def number(
    unit: str, *, minimum: float = 0, maximum: float = 100_000, step: float = 0.1
) -> NumberSelector:
    """A number box with a unit."""
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            unit_of_measurement=unit,
            mode=NumberSelectorMode.BOX,
        )
    )


def price_options(
    sensors: Iterable[Sensor], assets: Mapping[int, Asset]
) -> list[SelectOptionDict]:
    """The price drop-down: `asset` first, then every price sensor (own and public)."""
    prices = [
        SelectOptionDict(value=str(sensor.id), label=sensor_label(sensor, assets))
        for sensor in sensors
        if is_price_unit(sensor.unit)
    ]
    prices.sort(key=lambda option: option["label"].casefold())
    return [SelectOptionDict(value=ASSET_PRICE, label=ASSET_PRICE_LABEL), *prices]


def price_fields(prices: list[SelectOptionDict]) -> dict[Any, Any]:
    """A form's price drop-downs (the production price defaults to the asset's)."""
    return {
        probatio.Required(CONF_CONSUMPTION_PRICE_SENSOR): price_dropdown(prices),
        probatio.Optional(
            CONF_PRODUCTION_PRICE_SENSOR, default=ASSET_PRICE
        ): price_dropdown(prices),
    }


def horizon_fields() -> dict[Any, Any]:
    """A form's planning horizon (hours) and update interval (minutes)."""
    return {
        probatio.Optional(CONF_DURATION, default=DEFAULT_DURATION): number(
            UnitOfTime.HOURS, minimum=1, maximum=168, step=1
        ),
        probatio.Optional(
            CONF_UPDATE_INTERVAL, default=DEFAULT_UPDATE_INTERVAL
        ): number(UnitOfTime.MINUTES, minimum=1, maximum=1440, step=1),
    }


def stored_settings(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The prices and horizon a sub-entry stores (`price_fields`, `horizon_fields`).

    Prices are sensor ids as strings, or `asset`.
    """
    return {
        **{key: str(user_input.get(key) or ASSET_PRICE) for key in PRICE_KEYS},
        CONF_DURATION: user_input.get(CONF_DURATION, DEFAULT_DURATION),
        CONF_UPDATE_INTERVAL: user_input.get(
            CONF_UPDATE_INTERVAL, DEFAULT_UPDATE_INTERVAL
        ),
    }


def schedules(
    subentries: Iterable[ConfigSubentry], own: ConfigSubentry | None = None
) -> Iterator[ConfigSubentry]:
    """The schedule sub-entries but `own` (the one being reconfigured)."""
    return _of_type(subentries, SUBENTRY_TYPE_SCHEDULE, own)


def sites(
    subentries: Iterable[ConfigSubentry], own: ConfigSubentry | None = None
) -> Iterator[ConfigSubentry]:
    """The site sub-entries but `own` (the one being reconfigured)."""
    return _of_type(subentries, SUBENTRY_TYPE_SITE, own)


def _of_type(
    subentries: Iterable[ConfigSubentry],
    subentry_type: str,
    own: ConfigSubentry | None,
) -> Iterator[ConfigSubentry]:
    """The sub-entries of this type but `own`."""
    return (
        subentry
        for subentry in subentries
        if subentry.subentry_type == subentry_type
        and (own is None or subentry.subentry_id != own.subentry_id)
    )


def scheduled_power_sensors(
    subentries: Iterable[ConfigSubentry], own: ConfigSubentry | None
) -> set[str]:
    """The power sensor ids (strings) that schedules other than `own` use.

    Read from the sub-entries' data, and their unique ids where they have one
    (sub-entries written by scripts, e.g. scripts/ha_config.py, may have none).
    """
    taken: set[str] = set()
    for other in schedules(subentries, own):
        if (sensor := other.data.get(CONF_POWER_SENSOR)) not in (None, ""):
            taken.add(str(sensor))
        if other.unique_id:
            taken.add(other.unique_id)
    return taken


def site_of_device(
    subentries: Iterable[ConfigSubentry],
    power_sensor: str,
    own: ConfigSubentry | None = None,
) -> ConfigSubentry | None:
    """The site sub-entry (other than `own`) whose devices name this power sensor.

    The first such site, as the planners take it (a device belongs to at
    most one site).
    """
    for subentry in sites(subentries, own):
        if power_sensor in {str(d) for d in subentry.data.get(CONF_DEVICES, ())}:
            return subentry
    return None
