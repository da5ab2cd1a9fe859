"""Every language speaks every text: the same keys and placeholders as en.json.

Each translations/<language>.json other than en.json must be valid JSON (no
duplicate keys, which json.loads would silently merge), have exactly the keys of
en.json (recursively, texts where en.json has texts), no empty text, and name in
each text the same {placeholders} as the English one: Home Assistant fills a
placeholder by its name, and one the code does not pass shows as `{name}`.

Custom integrations keep their English in translations/en.json; Home Assistant
core's scripts build that file from a strings.json. This repository has no
strings.json: if one ever appears, it must say what en.json says.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import string
import sys
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.translation import async_get_translations
import pytest

from custom_components.flexmeasures.const import DOMAIN

INTEGRATION = Path(__file__).parents[1] / "custom_components" / "flexmeasures"
TRANSLATIONS = INTEGRATION / "translations"
LANGUAGES = sorted(
    path.stem for path in TRANSLATIONS.glob("*.json") if path.stem != "en"
)
REQUIRED_LANGUAGES = {"nl", "de"}


def load(path: Path) -> Any:
    """A JSON file; a key twice in one object fails."""

    def no_duplicates(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        assert not duplicates, f"{path.name}: duplicate keys {duplicates}"
        return dict(items)

    return json.loads(path.read_text("utf-8"), object_pairs_hook=no_duplicates)


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every value that is not an object, with its dotted key path."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from leaves(sub, f"{path}.{key}" if path else key)
    else:
        yield path, value


def texts(language: str) -> dict[str, Any]:
    """A language's values by key path."""
    return dict(leaves(load(TRANSLATIONS / f"{language}.json")))


def english() -> dict[str, Any]:
    return texts("en")


def placeholders(text: str) -> set[str]:
    """The {names} a text fills in (a stray brace fails, as it would in HA)."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_dutch_and_german_are_there() -> None:
    """The checks below run on every language, so these cannot go missing."""
    assert set(LANGUAGES) >= REQUIRED_LANGUAGES


def test_english_is_all_texts() -> None:
    """en.json itself: only non-empty texts (what the checks below compare to)."""
    assert {path: v for path, v in english().items() if not isinstance(v, str)} == {}
    assert [path for path, text in english().items() if not text.strip()] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_is_translated_and_nothing_else(language: str) -> None:
    """The same keys as en.json: none missing, none left over."""
    other = texts(language)
    assert sorted(set(english()) - set(other)) == [], "missing"
    assert sorted(set(other) - set(english())) == [], "not in en.json"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_translation_is_a_text(language: str) -> None:
    """No number, list, null or empty string where en.json has a text."""
    wrong = {
        path: value
        for path, value in texts(language).items()
        if not isinstance(value, str) or not value.strip()
    }
    assert wrong == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_translation_keeps_its_placeholders(language: str) -> None:
    """Each text names the same {placeholders} as its English one."""
    other = texts(language)
    wrong = {
        path: (sorted(placeholders(text)), other[path])
        for path, text in english().items()
        if isinstance(other.get(path), str)
        and placeholders(text) != placeholders(other[path])
    }
    assert wrong == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_translation_quotes_a_placeholder_away(language: str) -> None:
    """The frontend's ICU message format reads `'{` as a quoted literal brace."""
    assert [
        path
        for path, text in texts(language).items()
        if isinstance(text, str) and "'{" in text
    ] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_are_not_english_left_in_place(language: str) -> None:
    """Few texts are the English ones (names like "Asset" or "Modus" may be)."""
    other = texts(language)
    same = [path for path, text in english().items() if other.get(path) == text]
    assert len(same) < len(english()) * 0.05, same


def test_strings_json_if_any_says_what_en_json_says() -> None:
    """Home Assistant's scripts make en.json from strings.json: they must agree."""
    strings_json = INTEGRATION / "strings.json"
    if strings_json.exists():
        assert load(strings_json) == load(TRANSLATIONS / "en.json")


def test_the_checks_find_a_missing_key_a_lost_placeholder_and_an_empty_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks above can fail: a copy of en.json with one fault each."""
    source = load(TRANSLATIONS / "en.json")
    (tmp_path / "en.json").write_text(json.dumps(source), "utf-8")
    monkeypatch.setattr(sys.modules[__name__], "TRANSLATIONS", tmp_path)

    missing = json.loads(json.dumps(source))
    first = next(iter(missing["exceptions"]))
    del missing["exceptions"][first]
    (tmp_path / "xx.json").write_text(json.dumps(missing), "utf-8")
    with pytest.raises(AssertionError, match="missing"):
        test_every_key_is_translated_and_nothing_else("xx")

    extra = json.loads(json.dumps(source))
    extra["exceptions"]["not_in_english"] = {"message": "Nicht da."}
    (tmp_path / "xx.json").write_text(json.dumps(extra), "utf-8")
    with pytest.raises(AssertionError, match=r"not in en\.json"):
        test_every_key_is_translated_and_nothing_else("xx")

    lost = json.loads(json.dumps(source))
    lost["exceptions"]["cannot_connect"]["message"] = "Kein Server unter {adresse}."
    (tmp_path / "xx.json").write_text(json.dumps(lost), "utf-8")
    with pytest.raises(AssertionError, match="cannot_connect"):
        test_every_translation_keeps_its_placeholders("xx")

    empty = json.loads(json.dumps(source))
    empty["config"]["step"]["user"]["title"] = " "
    empty["config"]["error"]["unknown"] = 3
    (tmp_path / "xx.json").write_text(json.dumps(empty), "utf-8")
    with pytest.raises(AssertionError, match=r"user\.title"):
        test_every_translation_is_a_text("xx")

    (tmp_path / "xx.json").write_text('{"config": {}, "config": {}}', "utf-8")
    with pytest.raises(AssertionError, match="duplicate keys"):
        texts("xx")

    (tmp_path / "xx.json").write_text(json.dumps(source), "utf-8")
    with pytest.raises(AssertionError):
        test_translations_are_not_english_left_in_place("xx")


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("nl", "Verbinden met een FlexMeasures-account"),
        ("de", "Ein FlexMeasures-Konto verbinden"),
    ],
)
async def test_home_assistant_serves_the_language(
    hass: HomeAssistant, language: str, title: str
) -> None:
    """Home Assistant's own loader finds the file and gives every key of en.json."""
    texts_ha = await async_get_translations(hass, language, "config", [DOMAIN])
    prefix = f"component.{DOMAIN}.config."
    assert texts_ha[f"{prefix}step.user.title"] == title
    english_keys = {
        f"component.{DOMAIN}.{path}" for path in english() if path.startswith("config.")
    }
    assert english_keys <= set(texts_ha)
