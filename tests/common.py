"""Build and set up FlexMeasures config entries for tests (the one place that does).

`mock_account_entry` is the account entry as the config flow creates it; the
`mock_config_entry` fixture (tests/conftest.py) is one built with the fixtures
`fm_url` and `subentries_data`, which a test module overrides for a variant.
`setup_integration` sets an entry up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
import contextlib
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.const import CONF_EMAIL, CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from yarl import URL

import custom_components.flexmeasures as integration
from custom_components.flexmeasures.const import (
    DOMAIN,
    SUBENTRY_TYPE_MEASUREMENT,
    SUBENTRY_TYPE_SCHEDULE,
)

from .const import FM_URL, TOY_ACCOUNT_NAME, TOY_EMAIL, TOY_PASSWORD, TOY_USER_ID


def mock_account_entry(
    url: str = FM_URL,
    *,
    subentries_data: Iterable[ConfigSubentryData] = (),
    email: str = TOY_EMAIL,
    password: str = TOY_PASSWORD,
    user_id: int = TOY_USER_ID,
    account_name: str = TOY_ACCOUNT_NAME,
    unique_id: str | None = None,
    entry_id: str | None = None,
) -> MockConfigEntry:
    """An account entry for `url`, titled and unique as the config flow makes it.

    Title `<account name> (<host>)`, unique id `<url>_<user id>` unless given.
    """
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"{account_name} ({URL(url).host_port_subcomponent})",
        unique_id=f"{url}_{user_id}" if unique_id is None else unique_id,
        data={
            CONF_URL: url,
            CONF_EMAIL: email,
            CONF_PASSWORD: password,
            CONF_VERIFY_SSL: True,
        },
        subentries_data=list(subentries_data),
        entry_id=entry_id,
    )


def schedule_subentry(
    data: Mapping[str, Any],
    *,
    subentry_id: str,
    title: str = "Home battery",
) -> ConfigSubentryData:
    """A schedule subentry; unique by its power sensor, as the flow makes it."""
    return ConfigSubentryData(
        data=dict(data),
        subentry_id=subentry_id,
        subentry_type=SUBENTRY_TYPE_SCHEDULE,
        title=title,
        unique_id=str(data["power_sensor"]),
    )


def measurement_subentry(
    entity_id: str,
    sensor: str,
    *,
    subentry_id: str,
    title: str | None = None,
    **data: Any,
) -> ConfigSubentryData:
    """A measurement subentry (entity -> sensor; `data` adds optional keys)."""
    return ConfigSubentryData(
        data={"entity_id": entity_id, "sensor": sensor, **data},
        subentry_id=subentry_id,
        subentry_type=SUBENTRY_TYPE_MEASUREMENT,
        title=f"{entity_id} -> {sensor}" if title is None else title,
        unique_id=f"{entity_id}_{sensor}",
    )


async def setup_integration(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    state: ConfigEntryState = ConfigEntryState.LOADED,
) -> None:
    """Add the entry to hass, set it up (with its subentries' devices), check `state`."""
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    # the prices are read in a background task once the schedules are there
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is state


@dataclass
class HeldSetup:
    """A set-up held at one step (see `setup_held_at`)."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def reached(self) -> None:
        """Wait until a set-up is held."""
        await asyncio.wait_for(self.entered.wait(), 5)


@contextlib.asynccontextmanager
async def setup_held_at(hass: HomeAssistant, step: str) -> AsyncIterator[HeldSetup]:
    """Hold the set-ups of entries at `step` until the block ends.

    `step`: "first_plans" (before the forwarder and the platforms) or
    "platforms" (after the forwarder, before the update listener). At the end
    of the block the set-up goes on, and all it started is waited for.
    """
    held = HeldSetup()

    async def holding(original: Any, *args: Any) -> Any:
        held.entered.set()
        await held.gate.wait()
        return await original(*args)

    first_plans = integration.async_first_plans
    forward = hass.config_entries.async_forward_entry_setups
    hold = (
        patch.object(
            integration, "async_first_plans", lambda e: holding(first_plans, e)
        )
        if step == "first_plans"
        else patch.object(
            hass.config_entries,
            "async_forward_entry_setups",
            lambda e, p: holding(forward, e, p),
        )
    )
    with hold:
        try:
            yield held
        finally:  # also when the block fails: else the set-up waits forever
            held.gate.set()
        await hass.async_block_till_done(wait_background_tasks=True)
