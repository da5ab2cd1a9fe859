"""Config flow for FlexMeasures: one entry per account on one server.

The sub-entry flows live in their own modules: flow_schedule.py (a device to
schedule), flow_measurement.py (an entity whose states are sent up) and
flow_site.py (devices below one asset, planned in one job).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, override

from homeassistant.config_entries import (
    SOURCE_REAUTH,
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
    FlexMeasuresRateLimitError,
    FlexMeasuresRedirectError,
    FlexMeasuresResponseError,
    FlexMeasuresServerError,
    ServerInfo,
    UrlHasCredentialsError,
    User,
    normalise_url,
)
from .const import (
    API_VERSION,
    DEFAULT_VERIFY_SSL,
    DOMAIN,
    LOGGER,
    SUBENTRY_TYPE_MEASUREMENT,
    SUBENTRY_TYPE_SCHEDULE,
    SUBENTRY_TYPE_SITE,
)
from .flow_measurement import MeasurementSubentryFlowHandler
from .flow_schedule import ScheduleSubentryFlowHandler
from .flow_site import SiteSubentryFlowHandler

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
    """The unique id of an entry: the normalised server URL and the user id.

    `url` must be normalised (`normalise_url`): one entry per login, however
    the URL was spelled.
    """
    return f"{url}_{user_id}"


@dataclass(frozen=True, slots=True)
class FormError:
    """A form error key, and the placeholders its text needs."""

    key: str
    field: str = "base"
    placeholders: Mapping[str, str] | None = None

    def errors(self) -> dict[str, str]:
        """The form's errors dict."""
        return {self.field: self.key}


def _redirect_error(err: FlexMeasuresRedirectError, entered_url: str) -> FormError:
    """A redirect as a form error that says where it points.

    `redirect_url` is the base URL the redirect stands for (for http -> https
    on the same host: the URL to enter instead), else the target itself; a
    redirect that names no target is no FlexMeasures answer (cannot_connect).
    """
    target = err.suggested_url or err.location
    if target is None:
        return FormError("cannot_connect")
    LOGGER.debug(
        "FlexMeasures at %s answered HTTP %s to %s (not followed)",
        entered_url,
        err.status,
        target,
    )
    return FormError("redirected", placeholders={"redirect_url": target})


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
    # 2: URLs normalised (case, default port) and without user info; unique
    # ids from the normalised URL (see async_migrate_entry).
    MINOR_VERSION = 2

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Schedules (flexible devices), measurements (HA entity -> sensor), sites."""
        return {
            SUBENTRY_TYPE_SCHEDULE: ScheduleSubentryFlowHandler,
            SUBENTRY_TYPE_MEASUREMENT: MeasurementSubentryFlowHandler,
            SUBENTRY_TYPE_SITE: SiteSubentryFlowHandler,
        }

    async def _async_validate(
        self, user_input: Mapping[str, Any]
    ) -> tuple[FormError | None, AccountInfo | None]:
        """Try the URL and credentials; return a form error, or what was learned.

        Only FlexMeasures' own refusal of the login is `invalid_auth`; a
        redirect is `redirected` (never followed); the server's other refusals
        (e.g. a 422 of the login) are `unknown` and logged; anything else that
        is not a FlexMeasures answer (network, 5xx, HTML, odd JSON) is
        `cannot_connect`.
        """
        session = async_get_clientsession(
            self.hass, verify_ssl=user_input[CONF_VERIFY_SSL]
        )
        try:
            client = FlexMeasuresClient(
                session,
                user_input[CONF_URL],
                user_input[CONF_EMAIL].strip(),
                user_input[CONF_PASSWORD],
                verify_ssl=user_input[CONF_VERIFY_SSL],
            )
        except UrlHasCredentialsError:
            return FormError("url_has_credentials", CONF_URL), None
        except ValueError:
            return FormError("invalid_url", CONF_URL), None
        try:
            result = await _async_read_account(client)
        except FlexMeasuresAuthenticationError:
            return FormError("invalid_auth"), None
        except FlexMeasuresRedirectError as err:
            return _redirect_error(err, client.url), None
        except (FlexMeasuresServerError, FlexMeasuresRateLimitError) as err:
            LOGGER.debug("Cannot use FlexMeasures at %s: %s", client.url, err)
            return FormError("cannot_connect"), None
        except FlexMeasuresResponseError as err:
            LOGGER.warning(
                "FlexMeasures at %s refused the request (HTTP %s): %s",
                client.url,
                err.status,
                err.message,
            )
            return FormError("unknown"), None
        except FlexMeasuresError as err:
            LOGGER.debug("Cannot use FlexMeasures at %s: %s", client.url, err)
            return FormError("cannot_connect"), None
        except Exception:  # noqa: BLE001
            LOGGER.exception("Unexpected error while connecting to FlexMeasures")
            return FormError("unknown"), None
        if isinstance(result, str):
            return FormError(result), None
        return None, result

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
        """Save the entry and reload it, exactly once, changed or not.

        A finished reauth or reconfigure always brings the entry back: after an
        auth failure a loaded entry has stopped its updates, and the same
        (correct) password changes nothing that would reload it. When the
        entry changes and is loaded, its update listener reloads it; otherwise
        the reload is scheduled here.
        """
        changed = self.hass.config_entries.async_update_entry(
            entry, data=data, unique_id=unique_id, title=title
        )
        if not (changed and entry.update_listeners):
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_abort(
            reason="reauth_successful"
            if self.source == SOURCE_REAUTH
            else "reconfigure_successful"
        )

    @override
    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the server URL and the login."""
        error: FormError | None = None
        if user_input is not None:
            error, info = await self._async_validate(user_input)
            if info is not None:
                await self.async_set_unique_id(info.unique_id)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=info.title, data=self._entry_data(user_input, info)
                )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                STEP_USER_DATA_SCHEMA, _form_values(user_input)
            ),
            errors=error.errors() if error else {},
            description_placeholders=_placeholders(error, {"example_url": EXAMPLE_URL}),
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
        error: FormError | None = None
        entry = self._get_reauth_entry()
        if user_input is not None:
            new_data = {**entry.data, CONF_PASSWORD: user_input[CONF_PASSWORD]}
            error, info = await self._async_validate(new_data)
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
            errors=error.errors() if error else {},
            description_placeholders=_placeholders(
                error,
                {CONF_EMAIL: entry.data[CONF_EMAIL], CONF_URL: entry.data[CONF_URL]},
            ),
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the server URL, the login or the TLS check of an entry."""
        error: FormError | None = None
        entry = self._get_reconfigure_entry()
        if user_input is not None:
            error, info = await self._async_validate(user_input)
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
                _form_values(user_input if user_input is not None else entry.data),
            ),
            errors=error.errors() if error else {},
            description_placeholders=_placeholders(error, {"example_url": EXAMPLE_URL}),
        )


def _form_values(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Form values to show again: never the password, nor one inside the URL."""
    shown = {k: v for k, v in (values or {}).items() if k != CONF_PASSWORD}
    if isinstance(url := shown.get(CONF_URL), str):
        try:
            normalise_url(url)
        except UrlHasCredentialsError:
            shown[CONF_URL] = normalise_url(url, drop_user_info=True)
        except ValueError:
            if "@" in url:  # unusable, and it may hold a secret: show nothing
                shown[CONF_URL] = ""
    return shown


def _placeholders(
    error: FormError | None, placeholders: dict[str, str]
) -> dict[str, str]:
    """A step's description placeholders, plus those its error text needs."""
    if error is not None and error.placeholders:
        return {**placeholders, **error.placeholders}
    return placeholders
