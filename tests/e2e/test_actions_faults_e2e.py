"""Review of issue 14, against a real FlexMeasures server: action faults found.

Was marked xfail(strict=True) with the defect as its reason; the mark went
with the fix.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest

from custom_components.flexmeasures.const import DOMAIN

from .test_schedule_without_soc_e2e import _device_id, _entry, unload  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("socket_enabled")]


@pytest.mark.usefixtures("unload")
async def test_a_percentage_target_is_accepted_by_flexmeasures(
    hass: HomeAssistant, fm_server: dict[str, str]
) -> None:
    """80% of a 60 kWh battery is a target FlexMeasures plans for."""
    entry = await _entry(
        hass,
        fm_server,
        {"capacity": 60.0, "soc_min": 10.0, "soc_max": 60.0, "power_capacity": 11.0},
    )
    when = (dt_util.utcnow() + timedelta(hours=4)).replace(
        minute=0, second=0, microsecond=0
    )
    response: dict[str, Any] = await hass.services.async_call(
        DOMAIN,
        "trigger_schedule",
        {
            "device_id": _device_id(hass, entry),
            "soc_targets": [{"datetime": when.isoformat(), "value": "80%"}],
        },
        blocking=True,
        return_response=True,
    )
    assert response["values"]
