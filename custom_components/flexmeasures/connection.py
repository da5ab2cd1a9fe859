"""Whether the account's server answers, and what to do while it does not.

`ConnectionMonitor` is told by the API client whether each exchange reached
the server. It is what the account device's `connected` binary sensor shows
(with since when it is offline), raises a repair issue when the server stays
offline longer than the plans reach, and, when the entry had to start from
what was kept (the server was unreachable at start), retries the server in the
background with backoff and reloads the entry when it answers.

Since when the server is offline is kept in the entry's store: a restart of
Home Assistant or a reload of the entry during an outage does not begin it
again. It is forgotten when the server answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .api import FlexMeasuresAuthenticationError, FlexMeasuresError
from .const import LOGGER
from .issues import SERVER_UNREACHABLE
from .outages import Backoff

if TYPE_CHECKING:
    from .data import FlexMeasuresConfigEntry
    from .store import EntryStore

RETRY_FIRST: Final = 30.0
RETRY_MAX: Final = 600.0


class ConnectionMonitor:
    """The server's reachability for one config entry."""

    def __init__(
        self, hass: HomeAssistant, entry: FlexMeasuresConfigEntry, url: str
    ) -> None:
        """Reachable until told otherwise."""
        self._hass = hass
        self._entry = entry
        self._url = url
        self.connected = True
        self.disconnected_since: datetime | None = None
        self._listeners: list[CALLBACK_TYPE] = []
        self._probe: Callable[[], Awaitable[None]] | None = None
        self._retry_unsub: CALLBACK_TYPE | None = None
        self._backoff = Backoff(RETRY_FIRST, RETRY_MAX)
        self._stopped = False

    def _store(self) -> EntryStore:
        """Where the outage's start is kept (the entry's, set up by then)."""
        return self._entry.runtime_data.store

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `listener` when `connected` changes; returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def report(self, reached: bool) -> None:
        """An exchange reached the server, or did not."""
        if self._stopped:
            return
        if reached:
            # the outage is over, also one that began before a restart
            self._store().keep_disconnected_since(None)
        if reached == self.connected:
            if not reached:
                self._check_horizon()
            return
        self.connected = reached
        if reached:
            if self._probe is None:  # else the retry says so, and reloads
                LOGGER.info("FlexMeasures at %s answers again", self._url)
            self.disconnected_since = None
            SERVER_UNREACHABLE.async_clear(self._hass, self._entry.entry_id)
        else:
            # an outage that went on across a restart or reload began then
            kept = self._store().disconnected_since
            self._since(self._bounded(dt_util.utcnow() if kept is None else kept))
            if self._probe is None:  # an offline start said so already
                LOGGER.info("FlexMeasures at %s does not answer", self._url)
            if kept is not None:  # it may have gone on past the plans already
                self._check_horizon()
        self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def _since(self, since: datetime) -> None:
        """Since when the server has not answered: shown, and kept."""
        self.disconnected_since = since
        self._store().keep_disconnected_since(since)

    def _bounded(self, since: datetime) -> datetime:
        """Since when within what is known, as far as the clock is right.

        Not before the server's last kept answer (a clock that was behind),
        never after now (one that was ahead).
        """
        if (answered := self._store().last_answer) is not None and answered > since:
            since = answered
        return min(since, dt_util.utcnow())

    @callback
    def _check_horizon(self) -> None:
        """Raise a repair issue once offline past the end of the kept plans.

        Still offline: since when is bounded again (the clock may have been
        set meanwhile).
        """
        since = self.disconnected_since
        if since is not None and (bounded := self._bounded(since)) != since:
            self._since(since := bounded)
            self._notify()
        runtime = self._entry.runtime_data
        if since is not None and dt_util.utcnow() > runtime.plans_reach(since):
            SERVER_UNREACHABLE.async_raise(
                self._hass,
                self._entry.entry_id,
                {"url": self._url, "since": dt_util.as_local(since).isoformat()},
            )

    @callback
    def start_retrying(self, probe: Callable[[], Awaitable[None]]) -> None:
        """Retry `probe` with backoff until it works, then reload the entry.

        For an entry that started from what was kept: a reload sets it up
        normally (fresh schedules, the outbox delivered).
        """
        self._probe = probe
        self._schedule_retry()

    @callback
    def _schedule_retry(self) -> None:
        if self._stopped:
            return
        self._retry_unsub = async_call_later(
            self._hass, self._backoff.next(), self._on_retry
        )

    @callback
    def _on_retry(self, _now: datetime) -> None:
        self._retry_unsub = None
        self._entry.async_create_background_task(
            self._hass, self._async_retry(), "flexmeasures reconnect"
        )

    async def _async_retry(self) -> None:
        if self._probe is None or self._stopped:  # pragma: no cover - stopped
            return
        try:
            await self._probe()
        except ConfigEntryError:
            pass  # it answers, with something setup refuses: let setup say so
        except FlexMeasuresAuthenticationError:
            LOGGER.warning(
                "FlexMeasures at %s answers but refuses the login", self._url
            )
            self._entry.async_start_reauth(self._hass)
            return
        except FlexMeasuresError as err:
            LOGGER.debug("FlexMeasures at %s still unreachable: %s", self._url, err)
            self._check_horizon()
            self._schedule_retry()
            return
        LOGGER.info(
            "FlexMeasures at %s answers again; setting the account up afresh",
            self._url,
        )
        self._stopped = True
        self._hass.config_entries.async_schedule_reload(self._entry.entry_id)

    @callback
    def stop(self) -> None:
        """Stop retrying and withdraw the issue (the entry unloads).

        Nothing watches the server of an unloaded entry: a set-up offline
        raises the issue again at once if it is still due.
        """
        self._stopped = True
        SERVER_UNREACHABLE.async_clear(self._hass, self._entry.entry_id)
        if self._retry_unsub is not None:
            self._retry_unsub()
            self._retry_unsub = None
