"""Config flow for FlexMeasures (placeholder while the account flow is built)."""

from __future__ import annotations

from homeassistant.config_entries import ConfigFlow

from .const import DOMAIN


class FlexMeasuresConfigFlow(ConfigFlow, domain=DOMAIN):
    """Handle a config flow for FlexMeasures."""

    VERSION = 1
