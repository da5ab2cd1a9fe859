"""Config flow for FlexMeasures: one entry per account on one server.

The sub-entry flows live in their own modules: flow_schedule.py (a device to
schedule) and flow_measurement.py (an entity whose states are sent up).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, override

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
)
from homeassistant.const import CONF_EMAIL, CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio
from yarl import URL

from .api import (
    Account,
    FlexMeasuresAuthenticationError,
    FlexMeasuresClient,
    FlexMeasuresError,
    ServerInfo,
    User,
)
from .const import (
    API_VERSION,
    DEFAULT_VERIFY_SSL,
    DOMAIN,
    LOGGER,
    SUBENTRY_TYPE_MEASUREMENT,
    SUBENTRY_TYPE_SCHEDULE,
)
from .flow_measurement import MeasurementSubentryFlowHandler
from .flow_schedule import ScheduleSubentryFlowHandler

_URL_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.URL, autocomplete="url")
)
_EMAIL_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.EMAIL, autocomplete="username")
)
_PASSWORD_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="current-password")
)

STEP_USER_DATA_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_URL): _URL_SELECTOR,
        probatio.Required(CONF_EMAIL): _EMAIL_SELECTOR,
        probatio.Required(CONF_PASSWORD): _PASSWORD_SELECTOR,
        probatio.Required(CONF_VERIFY_SSL, default=DEFAULT_VERIFY_SSL): bool,
    }
)
STEP_REAUTH_DATA_SCHEMA = probatio.Schema(
    {probatio.Required(CONF_PASSWORD): _PASSWORD_SELECTOR}
)
EXAMPLE_URL = "https://flexmeasures.example.com"


def account_unique_id(url: str, user_id: int) -> str:
    """The unique id of an entry: the normalised server URL and the user id."""
    return f"{url}_{user_id}"


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What a successful validation learned about the account."""

    url: str
    server_info: ServerInfo
    user: User
    account: Account

    @property
    def unique_id(self) -> str:
        """Server and user: one entry per login."""
        return account_unique_id(self.url, self.user.id)

    @property
    def title(self) -> str:
        """`<account name> (<host>)`."""
        return f"{self.account.name} ({URL(self.url).host_port_subcomponent})"


async def _async_read_account(client: FlexMeasuresClient) -> AccountInfo | str:
    """Log in and read the server, the user and the account, or return an error key."""
    server_info = await client.get_server_info()
    if API_VERSION not in server_info.api_versions:
        LOGGER.debug(
            "Server %s offers API versions %s, not %s",
            client.url,
            server_info.api_versions,
            API_VERSION,
        )
        return "unsupported_version"
    await client.login()
    user = await client.get_current_user()
    account = await client.get_account(user.account_id)
    return AccountInfo(
        url=client.url, server_info=server_info, user=user, account=account
    )


class FlexMeasuresConfigFlow(ConfigFlow, domain=DOMAIN):
    """Handle a config flow for a FlexMeasures account."""

    VERSION = 1
    MINOR_VERSION = 1

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Schedules (flexible devices) and measurements (HA entity -> sensor)."""
        return {
            SUBENTRY_TYPE_SCHEDULE: ScheduleSubentryFlowHandler,
            SUBENTRY_TYPE_MEASUREMENT: MeasurementSubentryFlowHandler,
        }

    async def _async_validate(
        self, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, str], AccountInfo | None]:
        """Try the URL and credentials; return form errors, or what was learned."""
        session = async_get_clientsession(
            self.hass, verify_ssl=user_input[CONF_VERIFY_SSL]
        )
        try:
            client = FlexMeasuresClient(
                session,
                user_input[CONF_URL].strip(),
                user_input[CONF_EMAIL].strip(),
                user_input[CONF_PASSWORD],
                verify_ssl=user_input[CONF_VERIFY_SSL],
            )
        except ValueError:
            return {CONF_URL: "invalid_url"}, None
        try:
            result = await _async_read_account(client)
        except FlexMeasuresAuthenticationError:
            return {"base": "invalid_auth"}, None
        except FlexMeasuresError as err:
            LOGGER.debug("Cannot use FlexMeasures at %s: %s", client.url, err)
            return {"base": "cannot_connect"}, None
        except Exception:  # noqa: BLE001
            LOGGER.exception("Unexpected error while connecting to FlexMeasures")
            return {"base": "unknown"}, None
        if isinstance(result, str):
            return {"base": result}, None
        return {}, result

    @staticmethod
    def _entry_data(user_input: Mapping[str, Any], info: AccountInfo) -> dict[str, Any]:
        """The entry's data: the normalised URL and the credentials that worked."""
        return {
            CONF_URL: info.url,
            CONF_EMAIL: user_input[CONF_EMAIL].strip(),
            CONF_PASSWORD: user_input[CONF_PASSWORD],
            CONF_VERIFY_SSL: user_input[CONF_VERIFY_SSL],
        }

    def _async_update_and_finish(
        self,
        entry: ConfigEntry,
        *,
        data: Mapping[str, Any],
        unique_id: str,
        title: str,
    ) -> ConfigFlowResult:
        """Save the entry and make it use the new data.

        A loaded entry has an update listener that reloads it when it changes;
        an entry that is not loaded (e.g. setup failed on bad credentials) is
        reloaded here.
        """
        if entry.update_listeners:
            return self.async_update_and_abort(
                entry, data=data, unique_id=unique_id, title=title
            )
        return self.async_update_reload_and_abort(
            entry, data=data, unique_id=unique_id, title=title
        )

    @override
    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the server URL and the login."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors, info = await self._async_validate(user_input)
            if info is not None:
                await self.async_set_unique_id(info.unique_id)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=info.title, data=self._entry_data(user_input, info)
                )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                STEP_USER_DATA_SCHEMA, _without_password(user_input)
            ),
            errors=errors,
            description_placeholders={"example_url": EXAMPLE_URL},
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Start re-authentication after the server refused the credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the password of the configured login again."""
        errors: dict[str, str] = {}
        entry = self._get_reauth_entry()
        if user_input is not None:
            new_data = {**entry.data, CONF_PASSWORD: user_input[CONF_PASSWORD]}
            errors, info = await self._async_validate(new_data)
            if info is not None:
                await self.async_set_unique_id(info.unique_id)
                self._abort_if_unique_id_mismatch(reason="wrong_account")
                return self._async_update_and_finish(
                    entry,
                    data=self._entry_data(new_data, info),
                    unique_id=info.unique_id,
                    title=entry.title,
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=STEP_REAUTH_DATA_SCHEMA,
            errors=errors,
            description_placeholders={
                CONF_EMAIL: entry.data[CONF_EMAIL],
                CONF_URL: entry.data[CONF_URL],
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the server URL, the login or the TLS check of an entry."""
        errors: dict[str, str] = {}
        entry = self._get_reconfigure_entry()
        if user_input is not None:
            errors, info = await self._async_validate(user_input)
            if info is not None:
                # The login must be the same user as before. The server URL may
                # change (the server moved), so compare the user with the URL
                # part of the entry's own unique id.
                old_url = entry.data[CONF_URL]
                await self.async_set_unique_id(account_unique_id(old_url, info.user.id))
                self._abort_if_unique_id_mismatch(reason="wrong_account")
                if info.url != old_url:
                    await self.async_set_unique_id(info.unique_id)
                    self._abort_if_unique_id_configured()
                return self._async_update_and_finish(
                    entry,
                    data=self._entry_data(user_input, info),
                    unique_id=info.unique_id,
                    title=info.title,
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                STEP_USER_DATA_SCHEMA,
                _without_password(user_input if user_input is not None else entry.data),
            ),
            errors=errors,
            description_placeholders={"example_url": EXAMPLE_URL},
        )


def _without_password(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Form values to show again: never send the password back to the browser."""
    return {k: v for k, v in (values or {}).items() if k != CONF_PASSWORD}
