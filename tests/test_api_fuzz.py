"""Fuzzing the API client: whatever a server answers, only the client's errors escape.

A small aiohttp app on 127.0.0.1 answers each request with what hypothesis
draws: any status (redirects included), content type and charset, and a body
that is valid JSON, FlexMeasures-like JSON with broken fields, truncated JSON,
HTML, random bytes, text in another encoding, or arrays of up to 100 000
values (NaN, infinities, huge numbers, strings). For every public call tried,
the only exceptions that leave the client are its own FlexMeasuresError
subclasses, and each of those is mapped by the integration's error
translation to a translation key with exactly the placeholders its text uses.

One server and one session serve all examples; the total stays at a few
hundred examples, so the file runs in seconds.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import inspect
import json
from pathlib import Path
import re
import string
from typing import Any

import aiohttp
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings, strategies as st
import pytest

from custom_components.flexmeasures import api
from custom_components.flexmeasures.api import FlexMeasuresClient, FlexMeasuresError
from custom_components.flexmeasures.const import DOMAIN
from custom_components.flexmeasures.exceptions import (
    ErrorKind,
    ScheduleRequestError,
    account_error,
    measurement_action_error,
    schedule_error,
)

from .fake_flexmeasures import serve

START = datetime(2026, 11, 23, tzinfo=UTC)
STEP = timedelta(minutes=15)
EXAMPLES = 60  # per public call: 6 calls -> 360 examples in all

# --- the integration's error translation (re-point here when it moves) ----------
#
# Each translator turns a client error into (translation key, placeholders).


def _via_schedule_error(err: FlexMeasuresError) -> tuple[str, dict[str, str]]:
    mapped = schedule_error(
        err, url="http://fm.test", device="Battery", sensor_id=8, max_wait=120
    )
    return mapped.translation_key, mapped.placeholders


def _via_account_error(err: FlexMeasuresError) -> tuple[str, dict[str, str]]:
    _, key, placeholders = account_error(err, "http://fm.test", 8)
    return key, placeholders


def _via_measurement_action_error(
    err: FlexMeasuresError,
) -> tuple[str, dict[str, str]]:
    mapped = measurement_action_error(err, "http://fm.test", 8)
    assert mapped.translation_domain == DOMAIN
    assert mapped.translation_key is not None
    return mapped.translation_key, dict(mapped.translation_placeholders or {})


TRANSLATORS: dict[str, Callable[[FlexMeasuresError], tuple[str, dict[str, str]]]] = {
    "schedule_error": _via_schedule_error,
    "account_error": _via_account_error,
    "measurement_action_error": _via_measurement_action_error,
}

EXCEPTION_TEXTS: dict[str, str] = {
    key: value["message"]
    for key, value in json.loads(
        (
            Path(__file__).parents[1]
            / "custom_components/flexmeasures/translations/en.json"
        ).read_text(encoding="utf-8")
    )["exceptions"].items()
}


def _error_classes() -> list[type[FlexMeasuresError]]:
    """Every FlexMeasuresError subclass the api package exports (and the base)."""
    classes = [
        value
        for name in api.__all__
        if isinstance(value := getattr(api, name), type)
        and issubclass(value, FlexMeasuresError)
    ]
    seen: set[type[FlexMeasuresError]] = set()
    todo = list(classes)
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.add(cls)
            todo.extend(cls.__subclasses__())
    return sorted(seen, key=lambda cls: cls.__name__)


def _example_error(cls: type[FlexMeasuresError]) -> FlexMeasuresError:
    """An instance of `cls`, with whatever arguments its constructor needs."""
    params = inspect.signature(cls.__init__).parameters
    if "status" in params and "message" in params:
        return cls("boom", status=418, details={"message": "boom"})  # type: ignore[call-arg]
    if "status" in params:
        return cls(307, location="https://fm.test/api/")  # type: ignore[call-arg]
    return cls("boom")


def _placeholders_of(text: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", text))


def assert_translated(err: FlexMeasuresError) -> None:
    """`err` maps to an existing exception text, with exactly its placeholders."""
    for name, translate in TRANSLATORS.items():
        key, placeholders = translate(err)
        assert key in EXCEPTION_TEXTS, f"{name}: {type(err).__name__} -> {key}"
        assert set(placeholders) == _placeholders_of(EXCEPTION_TEXTS[key]), (
            f"{name}: {type(err).__name__} -> {key} {placeholders}"
        )
        assert all(isinstance(value, str) for value in placeholders.values())


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda cls: cls.__name__)
def test_every_client_error_is_translated(cls: type[FlexMeasuresError]) -> None:
    """Each client error type has a translation key whose placeholders it fills."""
    assert_translated(_example_error(cls))


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        (api.FlexMeasuresAuthenticationError, ErrorKind.AUTH),
        (api.FlexMeasuresRedirectError, ErrorKind.UNREACHABLE),
        (api.FlexMeasuresUnexpectedResponseError, ErrorKind.UNREACHABLE),
        (api.FlexMeasuresConnectionError, ErrorKind.UNREACHABLE),
        (api.FlexMeasuresServerError, ErrorKind.UNREACHABLE),
    ],
)
def test_only_a_refused_login_asks_for_reauthentication(
    cls: type[FlexMeasuresError], kind: ErrorKind
) -> None:
    """A redirect or an odd answer is retried, never mistaken for bad credentials."""
    mapped = schedule_error(
        _example_error(cls), url="u", device="d", sensor_id=8, max_wait=1
    )
    assert isinstance(mapped, ScheduleRequestError)
    assert mapped.kind is kind


# --- what the server answers -------------------------------------------------------


@dataclass
class Reply:
    """One drawn answer."""

    status: int
    body: bytes
    content_type: str | None
    location: str | None = None


REDIRECTED = "/redirected"  # where the drawn redirects point; nothing may arrive


@dataclass
class FuzzServer:
    """Answers each request with the next drawn reply (the last one repeats).

    A login is answered with a valid token when `login_ok`, so that the call
    under test gets past it; otherwise it gets the drawn replies too. Requests
    that reach a redirect target are recorded: a followed redirect.
    """

    replies: list[Reply] = field(default_factory=list)
    login_ok: bool = True
    url: str = ""
    redirected: list[tuple[str, bytes]] = field(default_factory=list)

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        return app

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.path.lower().startswith(REDIRECTED):
            self.redirected.append((request.path, body))
        if request.path.endswith("/api/requestAuthToken") and self.login_ok:
            return web.json_response(
                {"auth_token": "fuzz-token", "status": 200, "user_id": 1}
            )
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        headers: dict[str, str] = {}
        if reply.content_type is not None:
            headers["Content-Type"] = reply.content_type
        if reply.location is not None:
            headers["Location"] = reply.location.replace("{url}", self.url)
        return web.Response(status=reply.status, body=reply.body, headers=headers)


# --- strategies -------------------------------------------------------------------

_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -0.0]),
)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, -(10**400)]),
    _FLOATS,
    st.text(max_size=20),
    st.sampled_from(
        [
            *("PT15M", "P1D", "PT0S", "P1M", "P99999999999D"),  # the last overflows
            *("2026-11-23T01:00:00+01:00", "not-a-date", "9999-12-31T23:59:59-23:59"),
        ]
    ),
)
_JSON = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=8), children, max_size=5),
    ),
    max_leaves=20,
)

# Bodies each call accepts, to be broken a little.
_TEMPLATES: dict[str, dict[str, Any]] = {
    "login": {"auth_token": "t", "status": 200, "user_id": 1},
    "sensor": {
        "id": 8,
        "name": "discharging",
        "unit": "kW",
        "event_resolution": "PT15M",
        "timezone": "Europe/Amsterdam",
        "generic_asset_id": 6,
        "attributes": "{}",
    },
    "schedule": {
        "duration": "PT1H",
        "start": "2026-11-23T01:00:00+01:00",
        "unit": "kW",
        "values": [1.0, 2.0, 3.0, 4.0],
        "scheduler_info": {"scheduler": "StorageScheduler"},
    },
    "data": {
        "duration": "PT1H",
        "resolution": "PT15M",
        "start": "2026-11-23T00:00:00+00:00",
        "unit": "kW",
        "values": [1.0, None, 2.0, 3.0],
    },
    "post": {"message": "Request has been processed.", "status": "PROCESSED"},
    "trigger": {"job": "j", "schedule": "j", "status": "ACCEPTED"},
    "error": {"message": {"json": {"start": ["Missing data"]}}, "status": 422},
    "refusal": {"errors": ["User password does not match."], "status": 401},
    "pending": {"message": "Scheduling job in progress.", "status": "STARTED"},
    "failed": {"message": "infeasible", "status": "UNKNOWN_SCHEDULE"},
}


@st.composite
def _broken_template(draw: st.DrawFn) -> Any:
    """A valid-looking body with a few fields replaced, removed or added."""
    body = dict(draw(st.sampled_from(list(_TEMPLATES.values()))))
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from([*body, "values", "status", "message", "x"]))
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(_JSON)
    return body


@st.composite
def _big_values(draw: st.DrawFn) -> bytes:
    """A schedule/data answer with a long `values` array, as raw JSON text."""
    count = draw(st.sampled_from([0, 1, 4, 96, 5_000, 100_000]))
    item = draw(
        st.sampled_from(
            [
                *("1.5", "-3", "0", "NaN", "Infinity", "-Infinity", "1e999"),
                *("null", '"1"', "true", "[]", "9" * 400),
            ]
        )
    )
    values = "[" + ",".join([item] * count) + "]"
    duration = draw(
        st.sampled_from(["PT1H", "PT24H", "P2000D", "PT0S", "P9999999999D"])
    )
    return (
        '{"duration": "' + duration + '", "resolution": "PT15M", "unit": "kW", '
        '"start": "2026-11-23T00:00:00+00:00", "values": ' + values + "}"
    ).encode()


def _dump_text(value: Any) -> bytes:
    return json.dumps(value).encode()


_SCHEDULE_OVERFLOW = (
    '{"duration": "PT1H", "resolution": "PT15M", "unit": "kW", "user_id": 1e999, '
    '"start": "2026-11-23T00:00:00+00:00", "values": [' + "9" * 400 + "], "
    '"id": 1e999, "name": "x", "event_resolution": "PT15M", "auth_token": "t", '
    '"status": "PROCESSED", "job": "j"}'
).encode()
_DURATION_OVERFLOW = (
    b'{"duration": "P99999999999D", "resolution": "P99999999999D", "unit": "kW", '
    b'"start": "2026-11-23T00:00:00+00:00", "values": [1], "id": 8, "name": "x", '
    b'"event_resolution": "P99999999999D", "status": "PROCESSED", "job": "j"}'
)


_DEEP_ATTRIBUTES = _dump_text(
    {**_TEMPLATES["sensor"], "attributes": "[" * 100_000, "status": "PROCESSED"}
)


def _dump(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


_ODD_BODIES = st.one_of(
    _JSON.map(_dump),
    # truncated JSON
    st.tuples(_broken_template().map(_dump), st.integers(0, 200)).map(
        lambda pair: pair[0][: pair[1]]
    ),
    st.sampled_from(
        [
            b"",
            b"   ",
            b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
            b"<html>Maintenance</html>",
            b"[" * 100_000,  # deeper than the JSON parser recurses
            b'{"a":' * 100_000,
            "\ufeff{}".encode(),
            '{"errors": ["nope"]}'.encode("utf-16"),
        ]
    ),
    st.binary(max_size=300),
    st.text(max_size=100).map(lambda text: text.encode("utf-16-le")),
)
# Most bodies are near what the call expects, so that parsing is reached.
_BODIES = st.one_of(
    _broken_template().map(_dump),
    _big_values(),
    st.sampled_from(list(_TEMPLATES.values())).map(_dump),
    _ODD_BODIES,
)
_STATUSES = st.one_of(
    st.just(200),  # about half of the answers: the parsers get to work
    st.sampled_from(
        [
            *(200, 201, 202, 204, 301, 302, 303, 307, 308, 400, 401, 403, 404),
            *(405, 409, 410, 418, 422, 429, 500, 502, 503, 504),
        ]
    ),
    st.integers(min_value=200, max_value=599),
)
_CONTENT_TYPES = st.one_of(
    st.just("application/json"),
    st.none(),
    st.tuples(
        st.sampled_from(
            ["application/json", "text/html", "text/plain", "application/xml", "x/y"]
        ),
        st.sampled_from(
            [
                *("", "; charset=utf-8", "; charset=latin-1", "; charset=utf-16"),
                *("; charset=x-no-such-charset", "; charset=", '; charset="\u00e9"'),
            ]
        ),
    ).map("".join),
)
_LOCATIONS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            REDIRECTED + "/api/requestAuthToken",  # relative, same server
            "{url}" + REDIRECTED + "/api/v3_0/sensors/8",  # absolute, same server
            "{url}" + REDIRECTED.upper(),
            "https://user:secret@evil.example/api/requestAuthToken",
            "http://[::1",
            "",
            "javascript:alert(1)",
        ]
    ),
    st.text(alphabet=string.printable, max_size=30),
)


@st.composite
def _replies(draw: st.DrawFn) -> list[Reply]:
    return [
        Reply(
            status=draw(_STATUSES),
            body=draw(_BODIES),
            content_type=draw(_CONTENT_TYPES),
            location=draw(_LOCATIONS),
        )
        for _ in range(draw(st.integers(1, 3)))
    ]


# --- the calls --------------------------------------------------------------------


def _call(client: FlexMeasuresClient, name: str) -> Awaitable[Any]:
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "login": client.login,
        "get_sensor": lambda: client.get_sensor(8),
        "get_schedule": lambda: client.get_schedule(8, "job", resolution=STEP),
        "post_sensor_data": lambda: client.post_sensor_data(
            9, start=START, duration=STEP * 2, values=[1.0, None], unit="kW"
        ),
        "trigger_schedule": lambda: client.trigger_schedule(
            8, start=START, duration=timedelta(hours=1), asset_id=6
        ),
        "get_sensor_data": lambda: client.get_sensor_data(
            9, start=START, duration=timedelta(hours=1), unit="kW"
        ),
    }
    return calls[name]()


CALLS = [
    "login",
    "get_sensor",
    "get_schedule",
    "post_sensor_data",
    "trigger_schedule",
    "get_sensor_data",
]


@dataclass
class FuzzRecord:
    """What the fuzz tests of this module met, over all their examples."""

    calls: set[str] = field(default_factory=set)
    errors: set[type[FlexMeasuresError]] = field(default_factory=set)


@pytest.fixture(scope="module")
def fuzz_record() -> Generator[FuzzRecord]:
    """After all calls were fuzzed: the examples reached the paths that matter.

    (A fuzz run that never met a redirect or an odd answer proves little.)
    """
    record = FuzzRecord()
    yield record
    if record.calls == set(CALLS):
        assert {
            api.FlexMeasuresRedirectError,
            api.FlexMeasuresUnexpectedResponseError,
            api.FlexMeasuresServerError,
            api.FlexMeasuresInvalidRequestError,
        } <= record.errors


# Hostile answers every call meets on every run (the draws add breadth).
PINNED: list[list[Reply]] = [
    [Reply(200, b"[" * 100_000, "application/json")],  # deeper than json recurses
    [Reply(200, _SCHEDULE_OVERFLOW, "application/json")],  # values beyond float
    [Reply(200, _DURATION_OVERFLOW, "application/json")],  # beyond timedelta
    [Reply(200, _DEEP_ATTRIBUTES, "application/json")],  # JSON in a string, deep
    [Reply(500, b"\xff\xfe<html>", "text/html; charset=x-no-such-charset")],
    [Reply(200, b'{"values": [NaN], "x": "\xe9"}', "application/json")],
    [Reply(307, b"", None, REDIRECTED + "/api/requestAuthToken")],
    [Reply(308, b"", None, "{url}" + REDIRECTED + "/api/v3_0/sensors/8")],
    [Reply(404, b"<html>Not Found</html>", "text/html")],
]


def _pinned_examples[F](test: F) -> F:
    for replies in PINNED:
        for login_ok in (True, False):
            test = example(replies=replies, login_ok=login_ok)(test)  # type: ignore[arg-type]
    return test


@dataclass
class Fuzz:
    """The answering server and one client session, for all examples of a test."""

    server: FuzzServer
    session: aiohttp.ClientSession


@pytest.fixture
async def fuzz(socket_enabled: None) -> AsyncGenerator[Fuzz]:
    """The answering server on 127.0.0.1 and a session."""
    server = FuzzServer()
    async with serve(server.make_app()) as url, aiohttp.ClientSession() as session:
        server.url = url
        yield Fuzz(server, session)


@pytest.mark.parametrize("call", CALLS)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(replies=_replies(), login_ok=st.booleans())
@_pinned_examples
async def test_only_client_errors_escape(
    fuzz: Fuzz,
    fuzz_record: FuzzRecord,
    call: str,
    replies: list[Reply],
    login_ok: bool,
) -> None:
    """Whatever the server answers, a call returns or raises a FlexMeasuresError.

    No other exception leaves the client; each error is translated, names no
    URL or secret; no request follows a redirect.
    """
    fuzz_record.calls.add(call)
    fuzz.server.replies = replies
    fuzz.server.login_ok = login_ok
    client = FlexMeasuresClient(
        fuzz.session, fuzz.server.url, "fuzz@example.com", "pw", request_timeout=5
    )
    error: FlexMeasuresError | None = None
    try:
        await _call(client, call)
    except FlexMeasuresError as err:
        error = err
    assert fuzz.server.redirected == []  # no request (no password) followed one
    if error is not None:
        fuzz_record.errors.add(type(error))
        assert_translated(error)
        assert "secret" not in str(error)
        assert fuzz.server.url not in str(error)
