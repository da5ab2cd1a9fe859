"""The integration's texts (translations/en.json): typography, and what is named."""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import re
from typing import Any

import pytest

from custom_components.flexmeasures.action_schemas import FIELD_ERROR_KEYS

INTEGRATION = Path(__file__).parents[1] / "custom_components" / "flexmeasures"
TEXTS: dict[str, Any] = json.loads(
    (INTEGRATION / "translations" / "en.json").read_text()
)


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every text with where it is."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from strings(sub, f"{path}.{key}" if path else key)
    elif isinstance(value, str):
        yield path, value


@pytest.mark.parametrize(
    ("ascii_art", "symbol"), [("->", "→"), ("<=", "≤"), (">=", "≥")]
)
def test_titles_and_help_texts_use_real_symbols(ascii_art: str, symbol: str) -> None:
    """`→`, `≤`, `≥` rather than `->`, `<=`, `>=`."""
    assert [path for path, text in strings(TEXTS) if ascii_art in text] == [], symbol


def test_exception_messages_name_fields_in_their_own_words() -> None:
    """No message takes a field's name as a placeholder (it would stay English)."""
    for key, exception in TEXTS["exceptions"].items():
        assert "{field}" not in exception["message"], key


def test_every_translation_key_raised_by_the_actions_exists() -> None:
    """Each translation_key that services.py and exceptions.py raise has a text."""
    keys: set[str] = set()
    for module in (
        "services.py",
        "action_schemas.py",
        "exceptions.py",
        "requests.py",
        "coordinator.py",
    ):
        code = (INTEGRATION / module).read_text()
        keys |= set(re.findall(r'translation_key="([a-z_]+)"', code))
        keys |= set(re.findall(r'ErrorKind\.\w+,\s*"([a-z_]+)"', code))
        keys |= set(
            re.findall(r'"((?:naive|invalid)_[a-z_]+|soc_[a-z_]+_out_of_range)"', code)
        )
    for fields in FIELD_ERROR_KEYS.values():
        keys |= set(fields.values())
    # per-field keys, from services.py's tables
    assert {
        "naive_start",
        "naive_prior",
        "naive_soc_target",
        "invalid_soc_at_start",
        "invalid_soc_target",
        "soc_at_start_out_of_range",
        "soc_target_out_of_range",
    } <= keys
    assert sorted(keys - set(TEXTS["exceptions"])) == []


@pytest.mark.parametrize("service", sorted(FIELD_ERROR_KEYS))
def test_schema_errors_start_with_the_fields_name_in_the_action_ui(
    service: str,
) -> None:
    """Each field's error says which field, as the action's UI names it.

    No Python repr, no internal key in quotes (the duration or resolution
    group of post_measurements names both fields).
    """
    names = {
        field: texts["name"]
        for field, texts in TEXTS["services"][service]["fields"].items()
    }
    for field, key in FIELD_ERROR_KEYS[service].items():
        message = TEXTS["exceptions"][key]["message"]
        if field in names:
            assert message.startswith(f"{names[field]}: "), (service, field)
        else:
            assert message.startswith("Duration or Resolution: "), (service, field)
        for python in ("'", "[", "]", "{field", "datetime.", "@ data"):
            assert python not in message, (key, python)


def test_the_schedule_form_says_what_is_assumed_without_a_state_of_charge() -> None:
    """No state of charge entity: the start at the minimum; no limits: none."""
    for step in ("user", "reconfigure"):
        texts = TEXTS["config_subentries"]["schedule"]["step"][step]
        help_text = texts["data_description"]["soc_entity"]
        assert "starts at the minimum state of charge" in help_text
        assert "EV charger" in help_text
        assert (
            "Without a state of charge entity" in texts["data_description"]["soc_min"]
        )


def test_trigger_schedule_fields_have_names() -> None:
    """Every field of services.yaml has a name and a description."""
    fields = TEXTS["services"]["trigger_schedule"]["fields"]
    assert fields["clear_soc_targets"]["name"] == "Clear state of charge targets"
    services_yaml = (INTEGRATION / "services.yaml").read_text()
    assert "clear_soc_targets:" in services_yaml
