"""Reading an account at setup: from the server, or from what was kept.

`async_read_account` tests the server (version, login, user, account) and
reads the FlexMeasures sensor of every measurement. When the server cannot be
reached (connection errors, timeouts, 5xx, 429, a proxy's HTML page) and the
entry reached it before, the account and the sensor facts come from the
entry's store instead, so the entry runs on the kept plans; bad credentials
start reauth; an entry that never reached its server is not ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    ConfigEntryError,
    ConfigEntryNotReady,
)

from .api import (
    Account,
    FlexMeasuresAccessDeniedError,
    FlexMeasuresAuthenticationError,
    FlexMeasuresClient,
    FlexMeasuresError,
    FlexMeasuresNotFoundError,
    Sensor,
    ServerInfo,
    User,
)
from .const import (
    API_VERSION,
    CONF_ENTITY_ID,
    CONF_SENSOR,
    DOMAIN,
    LOGGER,
    SUBENTRY_TYPE_MEASUREMENT,
)
from .data import FlexMeasuresConfigEntry
from .exceptions import ErrorKind, account_error
from .store import EntryStore, StoredAccount


@dataclass(slots=True)
class AccountState:
    """What setup learned about the account, and whether the server answered."""

    server_info: ServerInfo
    user: User
    account: Account
    online: bool
    # measurement sub-entry id -> its FlexMeasures sensor (usable ones only)
    measurement_sensors: dict[str, Sensor] = field(default_factory=dict)
    error: FlexMeasuresError | None = None


async def async_read_account(
    client: FlexMeasuresClient, entry: FlexMeasuresConfigEntry, store: EntryStore
) -> AccountState:
    """The account from the server, else (unreachable) from the store."""
    try:
        state = await async_read_online(client, entry)
    except FlexMeasuresAuthenticationError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="invalid_auth",
            translation_placeholders={"url": client.url},
        ) from err
    except FlexMeasuresError as err:
        kind, key, placeholders = account_error(err, client.url, 0)
        if kind is ErrorKind.UNREACHABLE and (kept := store.account) is not None:
            return _offline_state(entry, store, kept, err)
        if kind is not ErrorKind.UNREACHABLE:  # e.g. the user is gone (404)
            key, placeholders = "api_error", {"url": client.url, "error": str(err)}
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders=placeholders,
        ) from err
    store.keep_account(state.server_info, state.user, state.account)
    for subentry_id, sensor in state.measurement_sensors.items():
        store.keep_sensor(subentry_id, sensor)
    return state


async def async_read_online(
    client: FlexMeasuresClient, entry: FlexMeasuresConfigEntry
) -> AccountState:
    """Everything setup reads from the server (raises what the client raises).

    Also the test of whether a server that was unreachable is back.
    """
    server_info = await client.get_server_info()
    if API_VERSION not in server_info.api_versions:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="unsupported_version",
            translation_placeholders={
                "url": client.url,
                "api_version": API_VERSION,
                "api_versions": ", ".join(server_info.api_versions),
            },
        )
    await client.login()
    user = await client.get_current_user()
    account = await client.get_account(user.account_id)
    state = AccountState(server_info, user, account, online=True)
    for subentry in entry.subentries.values():
        if subentry.subentry_type != SUBENTRY_TYPE_MEASUREMENT:
            continue
        try:
            sensor = await client.get_sensor(int(subentry.data[CONF_SENSOR]))
        except (FlexMeasuresNotFoundError, FlexMeasuresAccessDeniedError) as err:
            # the rest of the account keeps working
            LOGGER.error(
                "Not sending %s: FlexMeasures sensor %s is not usable: %s",
                subentry.data[CONF_ENTITY_ID],
                subentry.data[CONF_SENSOR],
                err,
            )
            continue
        state.measurement_sensors[subentry.subentry_id] = sensor
    return state


def _offline_state(
    entry: FlexMeasuresConfigEntry,
    store: EntryStore,
    kept: StoredAccount,
    err: FlexMeasuresError,
) -> AccountState:
    """The account as kept; measurements whose sensor facts were kept."""
    state = AccountState(
        kept.server_info, kept.user, kept.account, online=False, error=err
    )
    for subentry in entry.subentries.values():
        if subentry.subentry_type != SUBENTRY_TYPE_MEASUREMENT:
            continue
        sensor = store.sensor(subentry.subentry_id)
        if sensor is not None and str(sensor.id) != str(subentry.data[CONF_SENSOR]):
            sensor = None  # kept for the sensor it named before a reconfigure
        if sensor is None:
            LOGGER.warning(
                "Not following %s until FlexMeasures answers: its sensor was never read",
                subentry.data[CONF_ENTITY_ID],
            )
            continue
        state.measurement_sensors[subentry.subentry_id] = sensor
    return state
