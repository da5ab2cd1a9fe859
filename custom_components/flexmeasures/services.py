"""Actions of the FlexMeasures integration (registered once, in async_setup)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the FlexMeasures actions."""
    _async_setup_schedule_services(hass)
    _async_setup_measurement_services(hass)


# --- schedules: trigger_schedule, get_schedule ------------------------------


@callback
def _async_setup_schedule_services(hass: HomeAssistant) -> None:
    """Register the schedule actions."""


# --- measurements: post_measurements, get_measurements ----------------------


@callback
def _async_setup_measurement_services(hass: HomeAssistant) -> None:
    """Register the measurement actions."""
