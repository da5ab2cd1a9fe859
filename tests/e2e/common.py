"""Config entries for the tests against a real FlexMeasures server."""

from __future__ import annotations

from collections.abc import Iterable

from homeassistant.config_entries import ConfigSubentryData
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.common import mock_account_entry


def e2e_entry(
    fm_server: dict[str, str],
    *,
    subentries_data: Iterable[ConfigSubentryData] = (),
    url: str | None = None,
) -> MockConfigEntry:
    """The demo server's toy account (`url`: reach it another way, e.g. a proxy).

    Its unique id is the server's own with `_e2e`, not any real entry's.
    """
    return mock_account_entry(
        url or fm_server["FLEXMEASURES_URL"],
        subentries_data=subentries_data,
        email=fm_server["FLEXMEASURES_EMAIL"],
        password=fm_server["FLEXMEASURES_PASSWORD"],
        unique_id=f"{fm_server['FLEXMEASURES_URL']}_e2e",
    )
