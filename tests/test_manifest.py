"""What Home Assistant's validator (hassfest) and HACS check in the repository files.

hassfest is not installable from PyPI (it lives in home-assistant/core's
script/hassfest), so its checks that this integration has failed are mirrored
here: the manifest key order (script/hassfest/manifest.py, `sort_manifest`) and
the URL rule for translation strings (script/hassfest/translations.py,
`RE_URL` in `validate_translation_value`).
"""

from __future__ import annotations

from collections.abc import Iterator
import importlib.metadata
import json
from pathlib import Path
import re
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[1]
INTEGRATION = ROOT / "custom_components" / "flexmeasures"
TRANSLATIONS = sorted((INTEGRATION / "translations").glob("*.json"))

# hassfest's manifest order: "domain", "name", then the other keys alphabetically
# (it sorts with "domain" -> ".domain" and "name" -> ".name").
_MANIFEST_SORT_KEYS = {"domain": ".domain", "name": ".name"}

# hassfest's RE_URL, as it is in script/hassfest/translations.py.
RE_URL = re.compile(
    r"(((ftp|ftps|scp|http|https|mqtt|mqtts|socket|socks5):\/\/|www\.)"
    r"[a-z0-9]+([\-\.]{1}[a-z0-9]+)*\.[a-z]{2,5}(:[0-9]{1,5})?(\/.*)?)",
    re.IGNORECASE,
)


def manifest_keys(path: Path) -> list[str]:
    """The manifest's top-level keys in file order (a duplicate key fails)."""
    objects: list[list[str]] = []

    def hook(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        assert len(set(keys)) == len(keys), f"{path.name}: duplicate keys in {keys}"
        objects.append(keys)
        return dict(items)

    json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=hook)
    return objects[-1]  # the hook sees the top-level object last


def hassfest_manifest_order(keys: list[str]) -> list[str]:
    """The key order hassfest requires."""
    return sorted(keys, key=lambda key: _MANIFEST_SORT_KEYS.get(key, key))


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string of a translations file, with its dotted path."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from strings(child, f"{path}.{key}" if path else key)
    elif isinstance(value, str):
        yield path, value


def test_manifest_keys_are_in_hassfest_order() -> None:
    keys = manifest_keys(INTEGRATION / "manifest.json")
    assert keys[:2] == ["domain", "name"]
    assert keys == hassfest_manifest_order(keys), (
        "Manifest keys are not sorted correctly: domain, name, then alphabetical order"
    )


@pytest.mark.parametrize(
    ("keys", "in_order"),
    [
        # the order hassfest rejected: config_flow and after_dependencies swapped
        (["domain", "name", "codeowners", "config_flow", "after_dependencies"], False),
        (["name", "domain", "codeowners"], False),
        (["domain", "name", "after_dependencies", "codeowners", "version"], True),
    ],
)
def test_the_manifest_order_check_tells_right_from_wrong(
    keys: list[str], in_order: bool
) -> None:
    assert (keys == hassfest_manifest_order(keys)) is in_order


def test_there_are_translations() -> None:
    assert INTEGRATION / "translations" / "en.json" in TRANSLATIONS


@pytest.mark.parametrize("path", TRANSLATIONS, ids=lambda path: path.name)
def test_no_translation_string_contains_a_url(path: Path) -> None:
    """hassfest: "the string should not contain URLs, please use description
    placeholders instead" (a URL goes into the string as a placeholder)."""
    found = {
        key: text
        for key, text in strings(json.loads(path.read_text(encoding="utf-8")))
        if RE_URL.search(text)
    }
    assert not found, f"URLs in {path.name}: {found}"


@pytest.mark.parametrize(
    ("text", "has_url"),
    [
        # the string hassfest rejected at config.error.invalid_url
        (
            (
                "Enter a full URL with http:// or https:// and a host name, for "
                "example https://flexmeasures.example.com."
            ),
            True,
        ),
        ("See www.flexmeasures.io for more.", True),
        ("Connect to http://127.0.0.1:5000/api", False),  # hassfest: no dotted host
        ("Connect to http://localhost.local:5000", True),
        (
            "Enter a full URL with http:// or https://, for example {example_url}.",
            False,
        ),
    ],
)
def test_the_url_check_finds_what_hassfest_finds(text: str, has_url: bool) -> None:
    assert bool(RE_URL.search(text)) is has_url


def test_hacs_minimum_home_assistant_is_the_one_the_suite_runs_on() -> None:
    """hacs.json's `homeassistant` is the oldest release the tests run on: the
    one pytest-homeassistant-custom-component pins (README "Tested versions")."""
    hacs = json.loads((ROOT / "hacs.json").read_text(encoding="utf-8"))
    assert hacs["homeassistant"] == importlib.metadata.version("homeassistant")


def test_every_quality_scale_rule_is_done_or_exempt_with_a_reason() -> None:
    """quality_scale.yaml as hassfest reads it: each rule `done`, `todo` or
    `exempt`, and an exemption always says why."""
    rules = yaml.safe_load(
        (INTEGRATION / "quality_scale.yaml").read_text(encoding="utf-8")
    )["rules"]
    for name, rule in rules.items():
        status = rule if isinstance(rule, str) else rule["status"]
        assert status in {"done", "exempt"}, f"{name}: {status}"
        if status == "exempt":
            assert isinstance(rule, dict), f"{name}: exempt without a comment"
            assert rule.get("comment", "").strip(), f"{name}: exempt without a reason"
