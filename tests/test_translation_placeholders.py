"""Form errors get their placeholders from the form that shows them.

Home Assistant's frontend renders a flow's field error with the step's
`description_placeholders` (renderShowFormStepFieldError); a placeholder the
step does not pass is shown to the user as `{name}`. hassfest wants URLs in
placeholders (tests/test_manifest.py), so `config.error.invalid_url` has one.
"""

from __future__ import annotations

import json
from pathlib import Path
import string

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flexmeasures.const import DOMAIN

from .test_config_flow import USER_INPUT

EN = json.loads(
    (
        Path(__file__).parents[1]
        / "custom_components"
        / "flexmeasures"
        / "translations"
        / "en.json"
    ).read_text(encoding="utf-8")
)


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def _shown_error(result: dict[str, object], error: str) -> str:
    """The error text as the frontend renders it for this form."""
    template = EN["config"]["error"][error]
    placeholders = result.get("description_placeholders") or {}
    assert isinstance(placeholders, dict)
    missing = _placeholders(template) - set(placeholders)
    assert not missing, f"{result['step_id']} shows {error} without {missing}"
    return template.format(**placeholders)


def test_invalid_url_names_its_example_by_placeholder() -> None:
    assert _placeholders(EN["config"]["error"]["invalid_url"]) == {"example_url"}


async def test_user_form_shows_the_example_url_in_the_invalid_url_error(
    hass: HomeAssistant,
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_URL: "flexmeasures.example.com"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_URL: "invalid_url"}
    assert "for example https://flexmeasures.example.com." in _shown_error(
        result, "invalid_url"
    )


async def test_reconfigure_form_shows_the_example_url_in_the_invalid_url_error(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_URL: "ftp://flexmeasures.example.com"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_URL: "invalid_url"}
    assert "for example https://flexmeasures.example.com." in _shown_error(
        result, "invalid_url"
    )
