"""The schedule card's texts: one table per language in the card's JavaScript.

The table (TEXTS in www/flexmeasures-schedule-card.js) is strict JSON between
two markers; these tests read it and the rest of the card's source: every
language has the same keys with the same {placeholders}, the languages are the
integration's, every text the code asks for is in the table with the values its
placeholders need, and no English text is left in the code outside the table.
"""

from __future__ import annotations

import json
import re

import pytest

from custom_components.flexmeasures.frontend import CARD_PATH

TRANSLATIONS = CARD_PATH.parents[1] / "translations"
BEGIN = "/* texts: begin */"
END = "/* texts: end */"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# text(hass, "key") or text(hass, "key", { name: value, other })
TEXT_CALL = re.compile(
    r"\btext\(\s*(?:[^,()]|\([^()]*\))+,\s*\"(\w+)\"\s*(?:,\s*\{([^}]*)\})?"
)


def _source() -> str:
    return CARD_PATH.read_text(encoding="utf-8")


def card_texts(source: str) -> dict[str, dict[str, str]]:
    """The TEXTS table of the card's source."""
    start = source.index(BEGIN) + len(BEGIN)
    table: dict[str, dict[str, str]] = json.loads(source[start : source.index(END)])
    return table


def code_outside_table(source: str) -> str:
    """The card's source without the TEXTS table and the STYLE sheet."""
    source = source[: source.index(BEGIN)] + source[source.index(END) + len(END) :]
    style = re.search(r"const STYLE = `.*?`;\n", source, re.DOTALL)
    assert style, "no STYLE sheet found: the heuristic below needs updating"
    return source[: style.start()] + source[style.end() :]


def _literals(code: str) -> list[tuple[str, str]]:
    """The string literals of JavaScript code: ("quote", text) and ("template", text).

    A template's ${...} expressions become NUL (their own literals are listed
    too). Comments are skipped; a `/` after an operator or bracket starts a
    regular expression, skipped as well. Enough for the card's own code.
    """
    found: list[tuple[str, str]] = []
    i = 0
    n = len(code)
    last = ""  # the last significant character outside literals and comments
    while i < n:
        c = code[i]
        if code.startswith("//", i):
            i = code.find("\n", i)
            i = n if i < 0 else i
        elif code.startswith("/*", i):
            i = code.index("*/", i) + 2
        elif c in "\"'":
            j = i + 1
            while code[j] != c:
                j += 2 if code[j] == "\\" else 1
            found.append(("quote", code[i + 1 : j]))
            i, last = j + 1, c
        elif c == "`":
            i = _template(code, i + 1, found)
            last = "`"
        elif c == "/" and (not last or last in "(,=:[!&|?{};+-*%<>~^"):
            j = i + 1
            in_class = False
            while code[j] != "/" or in_class:
                if code[j] == "\\":
                    j += 1
                elif code[j] == "[":
                    in_class = True
                elif code[j] == "]":
                    in_class = False
                j += 1
            i, last = j + 1, "/"
        else:
            if not c.isspace():
                last = c
            i += 1
    return found


def _template(code: str, i: int, found: list[tuple[str, str]]) -> int:
    """Read a template literal from just after its backtick; return the index after it."""
    text: list[str] = []
    while code[i] != "`":
        if code[i] == "\\":
            text.append(code[i : i + 2])
            i += 2
        elif code.startswith("${", i):
            depth = 1
            j = i + 2
            start = j
            while depth:
                if code[j] == "`":
                    found.extend(_literals(code[start:j]))
                    j = _template(code, j + 1, found)
                    start = j
                    continue
                if code[j] in "\"'":
                    q = code[j]
                    k = j + 1
                    while code[k] != q:
                        k += 2 if code[k] == "\\" else 1
                    j = k + 1
                    continue
                depth += {"{": 1, "}": -1}.get(code[j], 0)
                j += 1
            found.extend(_literals(code[start : j - 1]))
            text.append("\0")
            i = j
        else:
            text.append(code[i])
            i += 1
    found.append(("template", "".join(text)))
    return i + 1


TWO_WORDS = re.compile(r"[A-Za-z]{2,}[ ,.;:!?]+[A-Za-z]{2,}")
CAPITALISED = re.compile(r"^[A-Z][a-z]{2,}\b")
TEXT_NODE = re.compile(r">([^<>]*)<")
# the card's literals that only look like words: a class list
NOT_TEXT = {"${…} member"}
READ_ATTRIBUTE = re.compile(r"(?:aria-label|title|alt|placeholder)=\"([^\"]*)\"")


def english_left(code: str) -> list[str]:
    """Literals that look like words for a reader: a text the table should have.

    Quoted strings of two words or a capitalised word; in templates (HTML),
    text between tags and read-out attributes (aria-label, title, ...) with
    letters in them, except identifier-like pieces such as `-editor`.
    """
    suspects = []
    for kind, literal in _literals(code):
        if kind == "quote":
            if TWO_WORDS.search(literal) or CAPITALISED.search(literal):
                suspects.append(literal)
            continue
        # between tags and in read-out attributes: any word is text
        texts = [*READ_ATTRIBUTE.findall(literal), *TEXT_NODE.findall(literal)]
        # before the first and after the last tag: words, not identifiers
        outside = [literal]
        if "<" in literal:
            outside = [
                literal[: literal.index("<")],
                literal[literal.rindex(">") + 1 :],
            ]
        texts += [
            p for p in outside if not re.fullmatch(r"[\w$.-]*", p.replace("\0", ""))
        ]
        suspects += [
            p.replace("\0", "${…}")
            for p in texts
            if re.search(r"[A-Za-z]{2,}", p.replace("\0", " "))
        ]
    return [s for s in suspects if not _markup(s) and s not in NOT_TEXT]


def _markup(piece: str) -> bool:
    """A URL, a CSS selector, or attributes (name="value" ...) of a tag in parts."""
    if re.fullmatch(r"https://\S+|[.#\[][\w\s.#\[\]=-]*", piece):
        return True
    return not re.sub(r"(?:^\s*<?\w+\s)?\s*[\w-]+=\"[^\"]*\"", "", piece).strip()


def test_card_texts_have_the_same_keys_and_placeholders_in_every_language() -> None:
    """en, nl and de (the integration's languages) say the same things."""
    texts = card_texts(_source())
    languages = sorted(p.stem for p in TRANSLATIONS.glob("*.json"))
    assert sorted(texts) == languages
    assert "en" in texts
    english = texts["en"]
    print(f"{len(english)} texts in {', '.join(sorted(texts))}")  # noqa: T201
    for language, table in texts.items():
        assert list(table) == list(english), language  # same keys, same order
        for key, value in table.items():
            assert value.strip(), (language, key)
            assert set(PLACEHOLDER.findall(value)) == set(
                PLACEHOLDER.findall(english[key])
            ), (language, key, value)
        if language != "en":  # translated, not copied (a few words agree, like Laden)
            same = [k for k in table if table[k] == english[k]]
            assert len(same) <= len(table) // 10, (language, same)


def test_card_asks_for_texts_of_the_table_with_their_placeholders() -> None:
    """Every text("key") call names a key of the table and passes its
    placeholders; every key of the table is used."""
    source = _source()
    english = card_texts(source)["en"]
    code = code_outside_table(source)
    calls = TEXT_CALL.findall(code)
    assert len(calls) >= 15, calls
    for key, values in calls:
        assert key in english, key
        passed = {v.split(":")[0].strip() for v in values.split(",") if v.strip()}
        assert passed == set(PLACEHOLDER.findall(english[key])), (key, passed)
    for key in english:
        assert f'"{key}"' in code, f"{key} is in the table but not used"


def test_no_english_text_outside_the_table() -> None:
    """The code outside TEXTS has no literal that reads as English to a user."""
    left = english_left(code_outside_table(_source()))
    assert left == []
    # none of the table's English texts is written out in the code either
    literals = [text for _kind, text in _literals(code_outside_table(_source()))]
    for value in card_texts(_source())["en"].values():
        fixed = PLACEHOLDER.split(value)[0].strip()
        if len(fixed) > 3:
            assert not [t for t in literals if fixed in t], fixed


@pytest.mark.parametrize(
    ("code", "found"),
    [
        ('throw new Error("Invalid configuration");', "Invalid configuration"),
        ('const mode = { idle: "Idle" }[kind];', "Idle"),
        ("el.innerHTML = `<div hidden>Not updated</div>`;", "Not updated"),
        ('x = `<div class="mode">${mode} now</div>`;', "${…} now"),
        ('x = `<text class="now-label" x="${x}">now</text>`;', "now"),
        ('x = `<svg role="img" aria-label="Planned power">`;', "Planned power"),
        ("x = `<span>Price (${escapeHtml(unit)})</span>`;", "Price (${…})"),
        ("x = `<b>${a ? `<i>Next change</i>` : 'end of plan'}</b>`;", "Next change"),
    ],
)
def test_the_english_heuristic_finds_what_it_looks_for(code: str, found: str) -> None:
    """The check above can fail: English in strings, tags, attributes, nested templates."""
    assert found in english_left(code)


def test_the_english_heuristic_leaves_code_alone() -> None:
    """Identifiers, selectors, CSS-ish attributes and regular expressions pass."""
    code = """
      const EDITOR_TYPE = `${CARD_TYPE}-editor`; // a comment with English words
      /* Another comment, Capitalised. */
      el.querySelector(".chart svg");
      s.replace(/[&<>"']/g, (c) => c);
      x = `<rect class="bar ${cls}" x="${f(x)}"><title>${escapeHtml(label)}</title></rect>`;
      y = a / b / c;
    """
    assert english_left(code) == []
