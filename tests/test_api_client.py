"""The FlexMeasures API client against a fake FlexMeasures server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
import json
import logging

import aiohttp
import pytest

from custom_components.flexmeasures.api import (
    FlexMeasuresAccessDeniedError,
    FlexMeasuresAuthenticationError,
    FlexMeasuresClient,
    FlexMeasuresConnectionError,
    FlexMeasuresError,
    FlexMeasuresInvalidRequestError,
    FlexMeasuresNotFoundError,
    FlexMeasuresRateLimitError,
    FlexMeasuresRedirectError,
    FlexMeasuresScheduleFailedError,
    FlexMeasuresSchedulePendingError,
    FlexMeasuresServerError,
    FlexMeasuresUnexpectedResponseError,
    UrlHasCredentialsError,
    normalise_url,
)
from custom_components.flexmeasures.api.models import (
    format_datetime,
    format_duration,
    parse_datetime,
    parse_duration,
    parse_json_field,
)
from custom_components.flexmeasures.api.responses import retry_after_seconds

from .const import FAKE_TOKEN_PREFIX, TOY_ACCOUNT_NAME, TOY_EMAIL, TOY_PASSWORD
from .fake_flexmeasures import Answer, FakeFlexMeasures, RecordingServer

START = datetime(2026, 11, 23, tzinfo=UTC)
STEP = timedelta(minutes=15)  # the resolution of the fake's power sensor 8


# --- URL ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://127.0.0.1:5000/", "http://127.0.0.1:5000"),
        ("HTTPS://fm.example.com/prefix/", "https://fm.example.com/prefix"),
        ("  https://fm.example.com  ", "https://fm.example.com"),
    ],
)
async def test_url_is_normalised(url: str, expected: str) -> None:
    """Scheme lower-cased, trailing slash dropped, prefix kept."""
    async with aiohttp.ClientSession() as session:
        assert FlexMeasuresClient(session, url, "a", "b").url == expected


@pytest.mark.parametrize(
    "url", ["127.0.0.1:5000", "ftp://host", "http://", "fm.example.com", "http://h:x"]
)
async def test_bad_url_raises_value_error(url: str) -> None:
    """A URL without http(s) scheme or host is refused up front."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="URL"):
            FlexMeasuresClient(session, url, "a", "b")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://FM.Example.com", "https://fm.example.com"),
        ("https://fm.example.com:443/", "https://fm.example.com"),
        ("HTTP://FM.example.com:80/Prefix/", "http://fm.example.com/Prefix"),
        ("http://127.0.0.1:5000/", "http://127.0.0.1:5000"),
        ("https://fm.example.com:80", "https://fm.example.com:80"),  # not default
        ("http://[::1]:80/", "http://[::1]"),
        ("http://[::1]:5000", "http://[::1]:5000"),
        ("https://fm.example.com/api/?x=1#y", "https://fm.example.com/api"),
    ],
)
def test_normalise_url_gives_one_spelling(url: str, expected: str) -> None:
    """Case of scheme and host, default ports and trailing slashes do not count."""
    assert normalise_url(url) == expected
    assert normalise_url(expected) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@fm.example.com",
        "https://user@fm.example.com/prefix",
        "https://:secret@fm.example.com",
        "http://user:secret@127.0.0.1:5000/",
    ],
)
async def test_url_with_user_info_is_refused_without_echoing_it(url: str) -> None:
    """User info in the URL is refused; the message does not repeat the secret."""
    with pytest.raises(UrlHasCredentialsError) as info:
        normalise_url(url)
    assert isinstance(info.value, ValueError)
    assert "secret" not in str(info.value)
    assert "fm.example.com" not in str(info.value)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UrlHasCredentialsError):
            FlexMeasuresClient(session, url, "a", "b")
    assert normalise_url(url, drop_user_info=True) == normalise_url(
        url.replace("user:secret@", "").replace("user@", "").replace(":secret@", "")
    )


@pytest.mark.parametrize("url", ["ftp://user:secret@host", "http://user:secret@h:x"])
def test_bad_url_message_does_not_echo_it(url: str) -> None:
    """Not even an unusable URL is repeated in the error (it may hold a secret)."""
    with pytest.raises(ValueError, match="URL") as info:
        normalise_url(url)
    assert "secret" not in str(info.value)


async def test_connection_errors_do_not_name_the_url(
    fake_fm: FakeFlexMeasures, fm_session: aiohttp.ClientSession
) -> None:
    """str(err) of a connection error carries no URL (callers know which)."""
    client = FlexMeasuresClient(
        fm_session, fake_fm.url, TOY_EMAIL, TOY_PASSWORD, request_timeout=0.2
    )
    fake_fm.fail_next("slow")
    with pytest.raises(FlexMeasuresConnectionError) as timeout:
        await client.get_health()
    fake_fm.down = True
    with pytest.raises(FlexMeasuresConnectionError) as dropped:
        await client.get_health()
    for err in (timeout.value, dropped.value):
        assert "127.0.0.1" not in str(err)
        assert "http" not in str(err)


async def test_path_prefix_is_used(
    fake_fm: FakeFlexMeasures, fm_session: aiohttp.ClientSession
) -> None:
    """Requests go below the prefix (a 404 HTML page is not FlexMeasures)."""
    client = FlexMeasuresClient(fm_session, fake_fm.url + "/prefix/", "a", "b")
    with pytest.raises(FlexMeasuresUnexpectedResponseError):
        await client.get_server_info()
    assert fake_fm.paths() == ["/prefix/api/"]


# --- auth -----------------------------------------------------------------------


async def test_login_sends_raw_token(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """The token goes raw in Authorization, and is reused."""
    assert fm_client.user_id is None
    assert await fm_client.login() == 1
    assert fm_client.user_id == 1
    await fm_client.get_sensor(8)
    await fm_client.get_sensor(9)
    token = next(iter(fake_fm.tokens))
    assert fake_fm.auth_headers[-2:] == [token, token]
    assert fake_fm.login_count == 1
    assert TOY_PASSWORD not in repr(fm_client)


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        (TOY_EMAIL, "wrong", "User password does not match."),
        ("nobody@example.com", "x", "does not exist"),
    ],
)
async def test_bad_credentials_are_authentication_errors(
    fake_fm: FakeFlexMeasures,
    fm_session: aiohttp.ClientSession,
    email: str,
    password: str,
    message: str,
) -> None:
    """Wrong password (401) and unknown user (404) mean bad credentials."""
    client = FlexMeasuresClient(fm_session, fake_fm.url, email, password)
    with pytest.raises(FlexMeasuresAuthenticationError, match=message):
        await client.get_sensors()


async def test_login_422_is_an_invalid_request_not_bad_credentials(
    fake_fm: FakeFlexMeasures, fm_session: aiohttp.ClientSession
) -> None:
    """FlexMeasures' 422 (missing fields, reference answer 07) is a bad request."""
    client = FlexMeasuresClient(fm_session, fake_fm.url, "", "")
    with pytest.raises(FlexMeasuresInvalidRequestError) as info:
        await client.login()
    assert info.value.status == 422
    assert "email: Missing data for required field." in info.value.message


async def test_expired_token_is_refreshed_once(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """A 401 gets one new token and the request is retried."""
    await fm_client.get_sensor(8)
    fake_fm.expire_tokens()
    sensor = await fm_client.get_sensor(8)
    assert sensor.id == 8
    assert fake_fm.login_count == 2
    assert fake_fm.paths()[-3:] == [
        "/api/v3_0/sensors/8",
        "/api/requestAuthToken",
        "/api/v3_0/sensors/8",
    ]


async def test_second_401_raises(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """A 401 after the refresh is an authentication error, not a loop."""
    await fm_client.login()
    fake_fm.fail_next(401, times=2)
    with pytest.raises(FlexMeasuresAuthenticationError):
        await fm_client.get_sensor(8)
    assert fake_fm.login_count == 2


async def test_concurrent_requests_share_one_refresh(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """Ten requests meeting an expired token cause a single login."""
    await fm_client.login()
    fake_fm.expire_tokens()
    fake_fm.delay = 0.05
    sensors = await asyncio.gather(*(fm_client.get_sensor(9) for _ in range(10)))
    assert {s.id for s in sensors} == {9}
    assert fake_fm.login_count == 2


async def test_first_requests_share_one_login(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """Concurrent first requests log in once."""
    await asyncio.gather(*(fm_client.get_sensor(8) for _ in range(5)))
    assert fake_fm.login_count == 1


async def test_login_without_token_is_unexpected(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """A 200 login without a token is not FlexMeasures."""
    fake_fm.login_failures.append("html")
    with pytest.raises(FlexMeasuresUnexpectedResponseError):
        await fm_client.login()


async def test_no_secret_in_debug_log(
    fake_fm: FakeFlexMeasures,
    fm_client: FlexMeasuresClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A whole session at DEBUG logs neither the password nor any token."""
    caplog.set_level(logging.DEBUG)
    await fm_client.get_server_info()
    await fm_client.get_sensors()
    fake_fm.expire_tokens()
    await fm_client.get_assets(include_public=True)
    job = await fm_client.trigger_schedule(8, start=START, duration=timedelta(hours=1))
    await fm_client.wait_for_schedule(8, job, resolution=STEP, first_delay=0.01)
    # aiohttp retries a GET once on a dropped keep-alive connection.
    fake_fm.fail_next("drop", times=2)
    with pytest.raises(FlexMeasuresConnectionError):
        await fm_client.get_sensor(8)
    assert fake_fm.tokens
    assert "/api/v3_0/sensors" in caplog.text
    for secret in [TOY_PASSWORD, *fake_fm.tokens, FAKE_TOKEN_PREFIX]:
        assert secret not in caplog.text


# --- redirects: never followed -----------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_login_redirect_is_refused_and_password_stays_home(
    fake_fm: FakeFlexMeasures,
    fm_client: FlexMeasuresClient,
    fm_sink: RecordingServer,
    status: int,
) -> None:
    """A redirected login is an error; the password never reaches the target."""
    target = fm_sink.url.replace("://", "://someone:secret@") + "/api/requestAuthToken"
    fake_fm.login_failures.append(Answer(status, headers={"Location": target}))
    with pytest.raises(FlexMeasuresRedirectError) as info:
        await fm_client.login()
    assert fm_sink.requests == []
    assert info.value.status == status
    assert info.value.location == fm_sink.url + "/api/requestAuthToken"
    assert info.value.suggested_url == fm_sink.url
    assert "secret" not in str(info.value)
    assert fm_sink.url not in str(info.value)


async def test_redirect_of_a_data_request_is_refused(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient, fm_sink: RecordingServer
) -> None:
    """Neither the token nor a posted body follows a redirect."""
    await fm_client.login()
    for _ in range(2):
        fake_fm.fail_next(Answer(307, headers={"Location": fm_sink.url + "/x?a=1"}))
    with pytest.raises(FlexMeasuresRedirectError) as info:
        await fm_client.post_sensor_data(
            9, start=START, duration=timedelta(minutes=15), values=[1], unit="kW"
        )
    with pytest.raises(FlexMeasuresRedirectError):
        await fm_client.get_sensor(8)
    assert fm_sink.requests == []
    assert info.value.location == fm_sink.url + "/x"
    assert info.value.suggested_url is None  # not the requested path elsewhere


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/elsewhere/api/", "{base}/elsewhere/api/"),  # relative to the request
        ("https://FM.example.com:443/api/", "https://fm.example.com/api/"),
        (None, None),  # a 3xx without a target
        ("http://[::1", None),  # not a URL
    ],
)
async def test_redirect_location_is_absolute_and_clean(
    fake_fm: FakeFlexMeasures,
    fm_client: FlexMeasuresClient,
    location: str | None,
    expected: str | None,
) -> None:
    """The target is absolute and normalised, or None when there is none."""
    headers = {} if location is None else {"Location": location}
    fake_fm.fail_next(Answer(302, headers=headers))
    with pytest.raises(FlexMeasuresRedirectError) as info:
        await fm_client.get_server_info()
    assert info.value.location == (
        None if expected is None else expected.format(base=fake_fm.url)
    )


async def test_https_redirect_suggests_the_https_base_url(
    fake_fm: FakeFlexMeasures, fm_session: aiohttp.ClientSession
) -> None:
    """http -> https on the same path below a prefix suggests the https base."""
    client = FlexMeasuresClient(fm_session, fake_fm.url + "/fm", "a", "b")
    https = fake_fm.url.replace("http://", "https://") + "/fm/api/"
    fake_fm.fail_next(Answer(301, headers={"Location": https}))
    with pytest.raises(FlexMeasuresRedirectError) as info:
        await client.get_server_info()
    assert info.value.suggested_url == https.removesuffix("/api/")


# --- login: only FlexMeasures itself can refuse credentials -------------------------


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        # A reverse proxy's HTML 404 or maintenance page.
        (
            Answer(404, "<html><body>404 Not Found</body></html>", "text/html"),
            FlexMeasuresUnexpectedResponseError,
        ),
        (
            Answer(503, "<html>Down for maintenance</html>", "text/html"),
            FlexMeasuresServerError,
        ),
        (
            Answer(401, "<html>Unauthorized</html>", "text/html"),
            FlexMeasuresUnexpectedResponseError,
        ),
        # JSON, but not FlexMeasures' error answer of the login.
        (
            Answer(404, '{"message": "Not Found"}'),
            FlexMeasuresUnexpectedResponseError,
        ),
        (Answer(404, ""), FlexMeasuresUnexpectedResponseError),
        (Answer(401, '{"errors": "no list"}'), FlexMeasuresUnexpectedResponseError),
        (Answer(500, '{"errors": ["boom"]}'), FlexMeasuresServerError),
        # A 422 is a malformed request, not bad credentials.
        (
            Answer(
                422,
                '{"message": {"json": {"email": ["Not a valid email address."]}},'
                ' "result": "Rejected", "status": "UNPROCESSABLE_ENTITY"}',
            ),
            FlexMeasuresInvalidRequestError,
        ),
    ],
)
async def test_login_refused_by_something_else_is_not_bad_credentials(
    fake_fm: FakeFlexMeasures,
    fm_client: FlexMeasuresClient,
    answer: Answer,
    error: type[Exception],
) -> None:
    """Only FlexMeasures' own 401/404 JSON answer means bad credentials."""
    fake_fm.login_failures.append(answer)
    with pytest.raises(error) as info:
        await fm_client.login()
    assert not isinstance(info.value, FlexMeasuresAuthenticationError)


async def test_data_request_401_html_is_not_bad_credentials(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """A proxy's HTML 401 on a data request (twice) is not bad credentials."""
    await fm_client.login()
    page = Answer(401, "<html>Unauthorized</html>", "text/html")
    fake_fm.fail_next(page, page)
    with pytest.raises(FlexMeasuresUnexpectedResponseError):
        await fm_client.get_sensor(8)


# --- decoding: no raw UnicodeDecodeError / LookupError ------------------------------


@pytest.mark.parametrize("status", [200, 404, 500])
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(
            b"\xff\xfe<\x00h\x00\xd8", "text/html; charset=utf-8", id="not-utf8"
        ),
        pytest.param(
            b"<html>\xe9t\xe9</html>",
            "text/html; charset=x-no-such-charset",
            id="unknown-charset-html",
        ),
        pytest.param(
            b'{"x": "\xe9"}',
            "application/json; charset=x-no-such-charset",
            id="unknown-charset-json",
        ),
        pytest.param(b'{"x": "\xe9"}', "application/json", id="latin1-in-json"),
        pytest.param(b"[" * 100_000, "application/json", id="nested-too-deep"),
    ],
)
async def test_undecodable_answers_are_client_errors(
    fake_fm: FakeFlexMeasures,
    fm_client: FlexMeasuresClient,
    status: int,
    body: bytes,
    content_type: str,
) -> None:
    """Odd charsets and bytes give the client's own errors, never a raw one."""
    await fm_client.login()
    fake_fm.fail_next(Answer(status, body, content_type))
    with pytest.raises(FlexMeasuresError):
        await fm_client.get_sensor(8)


async def test_json_is_read_as_utf8_whatever_the_charset_says(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """JSON is UTF-8: a wrong charset parameter does not garble the answer."""
    await fm_client.login()
    sensor = {**fake_fm.sensors[8], "name": "Batterie élevée"}
    body = json.dumps(sensor, ensure_ascii=False).encode()
    fake_fm.fail_next(Answer(200, body, "application/json; charset=latin-1"))
    assert (await fm_client.get_sensor(8)).name == "Batterie élevée"


# --- error mapping --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, FlexMeasuresInvalidRequestError),
        (403, FlexMeasuresAccessDeniedError),
        (404, FlexMeasuresNotFoundError),
        (422, FlexMeasuresInvalidRequestError),
        (429, FlexMeasuresRateLimitError),
        (500, FlexMeasuresServerError),
        (503, FlexMeasuresServerError),
        (418, FlexMeasuresInvalidRequestError),
    ],
)
async def test_error_status_mapping(
    fake_fm: FakeFlexMeasures,
    fm_client: FlexMeasuresClient,
    status: int,
    error: type[Exception],
) -> None:
    """Each error status becomes its own error, with the status kept."""
    await fm_client.login()
    fake_fm.fail_next(status)
    with pytest.raises(error) as info:
        await fm_client.get_sensor(8)
    assert getattr(info.value, "status", None) == status


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("300", 300.0),
        (" 0 ", 0.0),
        ("Mon, 23 Nov 2026 00:05:00 GMT", 300.0),  # an HTTP date
        ("Sun, 22 Nov 2026 23:00:00 GMT", 0.0),  # in the past: now
        ("Mon, 23 Nov 2026 00:05:00 -0000", 300.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    assert retry_after_seconds(header, START) == seconds


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [({"Retry-After": "120"}, 120.0), ({}, None), ({"Retry-After": "later"}, None)],
)
async def test_a_429_says_how_long_the_server_asked_to_wait(
    fake_fm: FakeFlexMeasures,
    fm_client: FlexMeasuresClient,
    headers: dict[str, str],
    retry_after: float | None,
) -> None:
    await fm_client.login()
    body = '{"message": "Too many requests", "status": 429}'
    fake_fm.fail_next(Answer(429, body, headers=headers))
    with pytest.raises(FlexMeasuresRateLimitError) as info:
        await fm_client.post_sensor_data(
            8, start=START, duration=STEP, values=[1.0], unit="kW"
        )
    assert (info.value.status, info.value.retry_after) == (429, retry_after)
    assert info.value.message == "Too many requests"


async def test_a_429_of_the_login_says_how_long_to_wait_too(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    fake_fm.login_failures.append(
        Answer(429, "<html>slow down</html>", "text/html", {"Retry-After": "7"})
    )
    with pytest.raises(FlexMeasuresRateLimitError) as info:
        await fm_client.login()
    assert info.value.retry_after == 7.0


async def test_other_accounts_sensor_is_access_denied(
    fm_client: FlexMeasuresClient,
) -> None:
    """403 INVALID_SENDER carries the server's message."""
    with pytest.raises(FlexMeasuresAccessDeniedError, match="cannot be authorized"):
        await fm_client.get_sensor(10)


async def test_unknown_sensor_422_is_not_found(fm_client: FlexMeasuresClient) -> None:
    """422 "No sensor found with ID" is recognised as not found."""
    with pytest.raises(FlexMeasuresNotFoundError) as info:
        await fm_client.get_sensor(99999)
    assert info.value.status == 422
    assert info.value.message == "id: No sensor found with ID 99999."


async def test_unknown_asset_and_sensor_404(fm_client: FlexMeasuresClient) -> None:
    """404 answers are not found, with the server's message."""
    with pytest.raises(FlexMeasuresNotFoundError, match="No asset found"):
        await fm_client.get_asset(99999)
    with pytest.raises(FlexMeasuresNotFoundError, match="Sensor 99999 not found"):
        await fm_client.get_sensor_data(
            99999, start=START, duration=timedelta(hours=1), unit="kW"
        )
    with pytest.raises(FlexMeasuresNotFoundError, match="No asset found"):
        await fm_client.get_sensors(asset_id=99999)


async def test_422_keeps_field_messages(fm_client: FlexMeasuresClient) -> None:
    """A refused value is an invalid request; details keep the server's fields."""
    with pytest.raises(FlexMeasuresInvalidRequestError) as info:
        await fm_client.post_sensor_data(
            9, start=START, duration=timedelta(hours=1), values=[1, 2, 3, 4], unit="EUR"
        )
    assert "Required unit for this sensor is kW" in info.value.message
    assert info.value.details["status"] == "UNPROCESSABLE_ENTITY"


async def test_sensor_not_in_asset_is_invalid_request(
    fm_client: FlexMeasuresClient,
) -> None:
    """ "does not belong" is not mistaken for not found."""
    with pytest.raises(FlexMeasuresInvalidRequestError, match="does not belong"):
        await fm_client.trigger_schedule(
            9, start=START, duration=timedelta(hours=1), asset_id=6
        )


@pytest.mark.parametrize("kind", ["html", "broken_json"])
async def test_not_json_is_unexpected_response(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient, kind: str
) -> None:
    """An HTML page or broken JSON is an unexpected response."""
    await fm_client.login()
    fake_fm.fail_next(kind)
    with pytest.raises(FlexMeasuresUnexpectedResponseError):
        await fm_client.get_sensors()


async def test_sensor_with_deeply_nested_attributes_still_parses(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """Attributes (JSON inside a string) nested too deep are just empty."""
    fake_fm.sensors[9]["attributes"] = "[" * 100_000
    assert (await fm_client.get_sensor(9)).attributes == {}


async def test_wrong_shape_is_unexpected_response(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """JSON that is not what the endpoint sends is an unexpected response."""
    fake_fm.sensors[9]["event_resolution"] = "P1M"
    with pytest.raises(FlexMeasuresUnexpectedResponseError):
        await fm_client.get_sensor(9)


async def test_dropped_connection_is_connection_error(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """A server closing the connection is a connection error."""
    fake_fm.down = True
    with pytest.raises(FlexMeasuresConnectionError):
        await fm_client.get_server_info()


async def test_slow_answer_times_out_as_connection_error(
    fake_fm: FakeFlexMeasures, fm_session: aiohttp.ClientSession
) -> None:
    """An answer slower than the timeout is a connection error."""
    client = FlexMeasuresClient(
        fm_session, fake_fm.url, TOY_EMAIL, TOY_PASSWORD, request_timeout=0.2
    )
    fake_fm.fail_next("slow")
    with pytest.raises(FlexMeasuresConnectionError, match="Timeout"):
        await client.get_health()


async def test_refused_connection_is_connection_error(
    fm_session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """Nothing listening is a connection error."""
    client = FlexMeasuresClient(fm_session, "http://127.0.0.1:9", "a", "b")
    with pytest.raises(FlexMeasuresConnectionError):
        await client.get_server_info()


# --- calls ---------------------------------------------------------------------


async def test_server_info_and_health(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """Version and health need no login."""
    info = await fm_client.get_server_info()
    assert info.version == "1.0.1"
    assert info.api_versions == ("v3_0",)
    assert await fm_client.get_health() is True
    assert fake_fm.login_count == 0


async def test_health_not_ready(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """503 from health means not ready; other failures raise."""
    fake_fm.fail_next(503)
    assert await fm_client.get_health() is False
    fake_fm.fail_next(500)
    with pytest.raises(FlexMeasuresServerError):
        await fm_client.get_health()


async def test_user_and_account(fm_client: FlexMeasuresClient) -> None:
    """The current user and their account (logging in first)."""
    user = await fm_client.get_current_user()
    assert (user.id, user.email, user.account_id) == (1, TOY_EMAIL, 1)
    assert user.timezone == "Europe/Amsterdam"
    account = await fm_client.get_account()
    assert (account.id, account.name) == (1, TOY_ACCOUNT_NAME)
    with pytest.raises(FlexMeasuresAccessDeniedError):
        await fm_client.get_account(2)


async def test_assets_parse_json_in_string_fields(
    fm_client: FlexMeasuresClient,
) -> None:
    """attributes / flex_context / flex_model come as JSON in strings."""
    asset = await fm_client.get_asset(6)
    assert asset.flex_model["soc-max"] == "450 kWh"
    assert asset.parent_asset_id == 5
    assert asset.sensor_ids == (8,)
    assert asset.asset_type == "battery"
    building = await fm_client.get_asset(5)
    assert building.flex_context["consumption-price"] == {"sensor": 7}


async def test_assets_all_pages_and_public(
    fake_fm: FakeFlexMeasures, fm_session: aiohttp.ClientSession
) -> None:
    """Pages are followed to the end; public assets are added once."""
    client = FlexMeasuresClient(
        fm_session, fake_fm.url, TOY_EMAIL, TOY_PASSWORD, page_size=2
    )
    assets = await client.get_assets()
    assert [a.id for a in assets] == [5, 6, 7]
    assert fake_fm.paths().count("/api/v3_0/assets") == 2
    with_public = await client.get_assets(include_public=True)
    assert [a.id for a in with_public] == [5, 6, 7, 4]
    assert with_public[-1].account_id is None


async def test_sensors_pages_filter_and_public(
    fake_fm: FakeFlexMeasures, fm_session: aiohttp.ClientSession
) -> None:
    """Sensors of the account, of an asset (with children), and public ones."""
    for sensor_id in range(20, 25):
        fake_fm.add_sensor(sensor_id, f"s{sensor_id}", 7, "kW", "PT5M")
    client = FlexMeasuresClient(
        fm_session, fake_fm.url, TOY_EMAIL, TOY_PASSWORD, page_size=3
    )
    sensors = await client.get_sensors()
    assert [s.id for s in sensors] == [8, 9, 20, 21, 22, 23, 24]
    assert fake_fm.paths().count("/api/v3_0/sensors") == 3
    assert sensors[2].event_resolution == timedelta(minutes=5)
    assert {s.id for s in await client.get_sensors(asset_id=6)} == {8}
    building = await client.get_sensors(asset_id=5)
    assert {8, 9, 20} <= {s.id for s in building}
    public = await client.get_sensors(include_public=True)
    assert 7 in {s.id for s in public}


async def test_listing_plain_list_and_bad_shape(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """A listing that is neither a list nor a page is unexpected."""
    await fm_client.login()
    fake_fm.failures.append("broken_json")
    with pytest.raises(FlexMeasuresUnexpectedResponseError):
        await fm_client.get_assets()


async def test_sensor_fields(fm_client: FlexMeasuresClient) -> None:
    """A sensor's unit, resolution, time zone and asset."""
    sensor = await fm_client.get_sensor(8)
    assert sensor.unit == "kW"
    assert sensor.event_resolution == timedelta(minutes=15)
    assert sensor.timezone == "Europe/Amsterdam"
    assert sensor.asset_id == 6


async def test_post_and_get_sensor_data(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """Posted values come back; the same post again is already received."""
    kwargs = {"start": START, "duration": timedelta(hours=1), "unit": "kW"}
    status = await fm_client.post_sensor_data(9, values=[1.5, 2, None, 3], **kwargs)  # type: ignore[arg-type]
    assert status == "PROCESSED"
    again = await fm_client.post_sensor_data(
        9,
        values=[1.5, 2, None, 3],
        prior=START,
        **kwargs,  # type: ignore[arg-type]
    )
    assert again == "ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED"
    data = await fm_client.get_sensor_data(9, source=1, **kwargs)  # type: ignore[arg-type]
    assert data.values == (1.5, 2.0, None, 3.0)
    assert data.resolution == timedelta(minutes=15)
    assert data.start == START
    hourly = await fm_client.get_sensor_data(
        9,
        resolution=timedelta(hours=1),
        **kwargs,  # type: ignore[arg-type]
    )
    assert hourly.resolution == timedelta(hours=1)


async def test_naive_datetime_is_refused(fm_client: FlexMeasuresClient) -> None:
    """Naive datetimes never reach the server."""
    with pytest.raises(ValueError, match="timezone-aware"):
        await fm_client.post_sensor_data(
            9,
            start=datetime(2026, 1, 1),
            duration=timedelta(hours=1),
            values=[1, 2, 3, 4],
            unit="kW",
        )


async def test_post_without_status_is_unexpected(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """A 200 without the status string is unexpected."""
    await fm_client.login()
    fake_fm.fail_next("html")
    with pytest.raises(FlexMeasuresUnexpectedResponseError):
        await fm_client.post_sensor_data(
            9, start=START, duration=timedelta(minutes=15), values=[1], unit="kW"
        )


async def test_schedule_202_then_200(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """Pending answers are polled through; the start keeps the sensor's offset."""
    fake_fm.job_pending_polls = 3
    job = await fm_client.trigger_schedule(
        8,
        start=START,
        duration=timedelta(hours=2),
        flex_model={"soc-at-start": "225 kWh", "soc-min": "50 kWh"},
        flex_context={"consumption-price": {"sensor": 7}},
        force_new_job=True,
    )
    payload = fake_fm.jobs[job].payload
    assert payload["force-new-job-creation"] is True
    assert payload["flex-model"]["soc-min"] == "50 kWh"
    assert payload["duration"] == "PT2H"
    schedule = await fm_client.wait_for_schedule(
        8, job, resolution=STEP, duration=timedelta(hours=2), first_delay=0.01
    )
    assert fake_fm.jobs[job].polls == 4
    assert schedule.start == START
    assert schedule.start.utcoffset() == timedelta(hours=1)
    assert schedule.resolution == timedelta(minutes=15)
    assert len(schedule.values) == 8
    assert schedule.unit == "kW"
    assert schedule.scheduler_info["scheduler"] == "StorageScheduler"
    assert schedule.job_id == job


def _schedule_body(values: str, *, duration: str = "PT1H") -> bytes:
    """A 200 schedule answer with `values` as raw JSON text."""
    return (
        '{"duration": "' + duration + '", "start": "2026-11-23T01:00:00+01:00", '
        '"unit": "kW", "status": "PROCESSED", "values": ' + values + "}"
    ).encode()


def _data_body(values: str) -> bytes:
    """A 200 sensor data answer (PT1H at PT15M) with `values` as raw JSON text."""
    return (
        '{"duration": "PT1H", "resolution": "PT15M", "unit": "kW", '
        '"start": "2026-11-23T00:00:00+00:00", "values": ' + values + "}"
    ).encode()


@pytest.mark.parametrize(
    "values",
    [
        "[1.0, NaN, 2.0]",
        "[Infinity]",
        "[-Infinity, 1]",
        "[1e999]",  # overflows to infinity
        "[" + "9" * 400 + "]",  # an int too large for a float
        '["1.5"]',
        "[null]",
        "[true]",
        "[[1.0]]",
        '{"0": 1.0}',
        '"1.0, 2.0"',
    ],
)
async def test_schedule_with_non_finite_or_wrong_values_is_refused(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient, values: str
) -> None:
    """NaN, infinities, strings, nulls, booleans: the update fails, visibly."""
    await fm_client.login()
    fake_fm.fail_next(Answer(200, _schedule_body(values)))
    with pytest.raises(FlexMeasuresUnexpectedResponseError):
        await fm_client.get_schedule(8, "job", resolution=STEP)


async def test_schedule_steps_are_the_sensor_resolution(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """Fewer values than the horizon: the plan ends earlier, steps stay 15 min."""
    job = fake_fm.add_job(8, start=START, duration=timedelta(hours=1), values=[1, 2])
    schedule = await fm_client.get_schedule(
        8, job, resolution=STEP, duration=timedelta(hours=1)
    )
    assert schedule.resolution == timedelta(minutes=15)
    assert schedule.values == (1.0, 2.0)
    assert schedule.end == START + timedelta(minutes=30)
    assert schedule.value_at(START + timedelta(minutes=20)) == 2.0
    assert schedule.value_at(START + timedelta(minutes=40)) is None


@pytest.mark.parametrize(
    ("values", "duration"),
    [("[1, 2, 3, 4, 5]", "PT1H"), ("[1, 2]", "PT15M"), ("[1]", "PT0S")],
)
async def test_schedule_with_more_values_than_its_duration_is_refused(
    fake_fm: FakeFlexMeasures,
    fm_client: FlexMeasuresClient,
    values: str,
    duration: str,
) -> None:
    """Values that do not fit the answer's duration at the resolution: error."""
    await fm_client.login()
    fake_fm.fail_next(Answer(200, _schedule_body(values, duration=duration)))
    with pytest.raises(FlexMeasuresUnexpectedResponseError):
        await fm_client.get_schedule(8, "job", resolution=STEP)


@pytest.mark.parametrize("resolution", [timedelta(0), timedelta(minutes=-15)])
async def test_schedule_of_a_sensor_without_resolution_is_an_error(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient, resolution: timedelta
) -> None:
    """An instantaneous sensor has no steps to plan: a client error, no crash."""
    job = fake_fm.add_job(8, start=START)
    with pytest.raises(FlexMeasuresUnexpectedResponseError, match="resolution"):
        await fm_client.get_schedule(8, job, resolution=resolution)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ("[1.5, null, 2]", (1.5, None, 2.0)),
        ("[NaN, Infinity, -Infinity, 1e999]", (None, None, None, None)),
        ("[0, -0.0, 3]", (0.0, 0.0, 3.0)),
    ],
)
async def test_sensor_data_gaps_and_non_finite_values_are_none(
    fake_fm: FakeFlexMeasures,
    fm_client: FlexMeasuresClient,
    values: str,
    expected: tuple[float | None, ...],
) -> None:
    """null is a gap; a non-finite value is a gap too (never a number)."""
    await fm_client.login()
    fake_fm.fail_next(Answer(200, _data_body(values)))
    data = await fm_client.get_sensor_data(
        9, start=START, duration=timedelta(hours=1), unit="kW"
    )
    assert data.values == expected


@pytest.mark.parametrize("values", ['["1.5"]', "[true]", "[[1]]", '"1"', "null"])
async def test_sensor_data_of_wrong_type_is_refused(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient, values: str
) -> None:
    """Strings, booleans, lists are not measurements: an unexpected response."""
    await fm_client.login()
    fake_fm.fail_next(Answer(200, _data_body(values)))
    with pytest.raises(FlexMeasuresUnexpectedResponseError):
        await fm_client.get_sensor_data(
            9, start=START, duration=timedelta(hours=1), unit="kW"
        )


async def test_get_schedule_pending_raises(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """One poll of an unfinished job says pending."""
    job = fake_fm.add_job(8, start=START, pending_polls=1)
    with pytest.raises(FlexMeasuresSchedulePendingError, match="in progress"):
        await fm_client.get_schedule(8, job, resolution=STEP)
    assert (await fm_client.get_schedule(8, job, resolution=STEP)).values


async def test_wait_for_schedule_gives_up(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """After max_wait, still pending is raised."""
    job = fake_fm.add_job(8, start=START, pending_polls=1000)
    with pytest.raises(FlexMeasuresSchedulePendingError):
        await fm_client.wait_for_schedule(
            8, job, resolution=STEP, max_wait=0.2, first_delay=0.01, max_delay=0.05
        )
    assert 3 <= fake_fm.jobs[job].polls < 30


async def test_failed_schedule_has_reason(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """400 UNKNOWN_SCHEDULE is a failed schedule with the server's reason."""
    fake_fm.job_fail_reason = "InfeasibleProblemException: infeasible"
    job = await fm_client.trigger_schedule(
        8, start=START, duration=timedelta(hours=1), asset_id=6
    )
    assert fake_fm.jobs[job].payload["flex-model"] == [{"sensor": 8}]
    with pytest.raises(FlexMeasuresScheduleFailedError) as info:
        await fm_client.wait_for_schedule(8, job, resolution=STEP, first_delay=0.01)
    assert "InfeasibleProblemException: infeasible" in info.value.reason
    status = await fm_client.get_job_status(job)
    assert status.status == "FAILED"
    assert status.ended_at is not None


async def test_unknown_job_is_not_found(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """400 UNRECOGNIZED_UDI_EVENT and an unknown job are not found."""
    with pytest.raises(FlexMeasuresNotFoundError, match="not known"):
        await fm_client.get_schedule(
            8, "00000000-0000-0000-0000-000000000000", resolution=STEP
        )
    with pytest.raises(FlexMeasuresNotFoundError, match="not found"):
        await fm_client.get_job_status("00000000-0000-0000-0000-000000000000")


async def test_other_400_on_schedule_is_invalid_request(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """A 400 that is not UNKNOWN_SCHEDULE stays an invalid request."""
    await fm_client.login()
    fake_fm.fail_next(400)
    with pytest.raises(FlexMeasuresInvalidRequestError):
        await fm_client.get_schedule(8, "x", resolution=STEP)


async def test_job_status_times(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """enqueued/started/ended times are aware datetimes."""
    job = fake_fm.add_job(8, start=START)
    await fm_client.get_schedule(8, job, resolution=STEP)
    status = await fm_client.get_job_status(job)
    assert status.status == "FINISHED"
    assert status.enqueued_at is not None
    assert status.enqueued_at.tzinfo is not None
    assert status.started_at is not None
    assert status.ended_at is not None
    assert status.ended_at - status.enqueued_at == timedelta(seconds=1)
    assert status.message == "Scheduling job has finished."


async def test_trigger_without_job_id_is_unexpected(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """A trigger answer without a job id is unexpected."""
    await fm_client.login()
    fake_fm.fail_next("html")
    with pytest.raises(FlexMeasuresUnexpectedResponseError):
        await fm_client.trigger_schedule(8, start=START, duration=timedelta(hours=1))


# --- models ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("PT15M", timedelta(minutes=15)),
        ("PT1H", timedelta(hours=1)),
        ("P1D", timedelta(days=1)),
        ("PT0H", timedelta(0)),
        ("P0D", timedelta(0)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("PT1.5S", timedelta(seconds=1.5)),
        ("P1W", timedelta(weeks=1)),
        ("pt48h", timedelta(hours=48)),
    ],
)
def test_parse_duration(text: str, delta: timedelta) -> None:
    """ISO 8601 durations of fixed length."""
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["P1M", "P1Y", "15M", "P", "PT", "P1DT", "", "x"])
def test_parse_duration_refuses(text: str) -> None:
    """Calendar durations and garbage are refused."""
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(minutes=15), "PT15M"),
        (timedelta(hours=1), "PT1H"),
        (timedelta(days=1), "P1D"),
        (timedelta(0), "PT0S"),
        (timedelta(days=2, hours=1, minutes=2, seconds=3), "P2DT1H2M3S"),
        (timedelta(seconds=1.25), "PT1.25S"),
    ],
)
def test_format_duration(delta: timedelta, text: str) -> None:
    """timedelta to ISO 8601, and back."""
    assert format_duration(delta) == text
    assert parse_duration(text) == delta


def test_format_negative_duration_refused() -> None:
    """A negative duration is a programming error."""
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(minutes=-1))


def test_datetimes_are_aware() -> None:
    """Offsets are kept; a missing offset means UTC; naive is never sent."""
    amsterdam = parse_datetime("2026-11-23T01:00:00+01:00")
    assert amsterdam.utcoffset() == timedelta(hours=1)
    assert amsterdam == START
    assert parse_datetime("2026-11-23T00:00:00").tzinfo is UTC
    assert parse_datetime("2026-11-23T00:00:00Z") == START
    assert format_datetime(START) == "2026-11-23T00:00:00+00:00"


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ('{"a": 1}', {"a": 1}),
        ({"a": 1}, {"a": 1}),
        ("", {}),
        (None, {}),
        ("not json", {}),
        ("[1, 2]", {}),
        pytest.param("[" * 100_000, {}, id="nested-too-deep"),
        pytest.param('{"a": ' * 100_000, {}, id="objects-too-deep"),
    ],
)
def test_json_in_string_fields_are_tolerant(
    raw: object, parsed: dict[str, int]
) -> None:
    """JSON inside a string is decoded; anything odd gives an empty dict."""
    assert parse_json_field(raw) == parsed


async def test_reachability_listener_hears_each_exchange(
    fake_fm: FakeFlexMeasures, fm_client: FlexMeasuresClient
) -> None:
    """True for any answer below 500; False for 5xx, a dropped connection, down."""
    heard: list[bool] = []
    fm_client.set_reachability_listener(heard.append)
    await fm_client.get_server_info()
    assert heard == [True]
    fake_fm.fail_next(503)
    with pytest.raises(FlexMeasuresServerError):
        await fm_client.get_server_info()
    assert heard[-1] is False
    fake_fm.fail_next(404)
    with pytest.raises(FlexMeasuresError):
        await fm_client.get_sensor(8)
    assert heard[-1] is True  # the server answered, even if with an error
    fake_fm.down = True
    with pytest.raises(FlexMeasuresConnectionError):
        await fm_client.get_server_info()
    assert heard[-1] is False
