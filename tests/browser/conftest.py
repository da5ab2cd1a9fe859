"""A real Home Assistant (as scripts/develop runs it) and headless Chromium.

Home Assistant runs as a subprocess from a temporary config dir prepared by
scripts/ha_config.py (the code scripts/develop uses), on a free port on
127.0.0.1, against the running demo FlexMeasures server (`fm_server`).
Playwright drives Debian's /usr/bin/chromium (scripts/test installs it).
The plugin blocks sockets from the first test's setup on, so everything a
session fixture needs from the network happens in subprocesses.

Which Home Assistant: the one of this venv (what pytest-homeassistant-custom-component
pins), or the interpreter in FLEXMEASURES_HA_PYTHON (scripts/test: .venv-ha-latest,
the newest release, which cannot be installed beside the plugin). Only the `hass`
process (and `ha_config.py prepare`, which imports Home Assistant) uses it; pytest
and Playwright stay here. With FLEXMEASURES_HA_VERSION set, the running Home
Assistant must report that version. Every start must find its packages installed
already (requirements_develop.txt, requirements_ha_latest.txt): a package Home
Assistant installs at start fails the start.

Shared across the session (each start of Home Assistant costs 15-45 s here):
  - `ha`: ONE Home Assistant set up as scripts/develop sets it up (the entry with
    its sub-entries), for every module that uses the `ha` fixture. A module that
    changes what others see (a mode, a target, a sub-entry's settings) puts it back
    when it is done. A module that needs a Home Assistant of its own (no entry, a
    restart, being offline) overrides `ha` with `start_home_assistant(...)`.
  - one Chromium process (tests/browser/chromium_server.py); every test gets a new
    browser context of its own in it (`page`, `new_page`): nothing carries over
    from one test to the next but the login (`log_in`).
"""

# ruff: noqa: T201  (what a browser check saw is printed for its reader)

from __future__ import annotations

import atexit
from collections.abc import AsyncIterator, Callable, Iterator
import contextlib
from dataclasses import dataclass
import json
import os
from pathlib import Path
import subprocess
import sys
import time

from playwright.async_api import Page, async_playwright
import pytest

from tests.e2e.conftest import fm_server  # noqa: F401  (the same demo server)

ROOT = Path(__file__).parents[2]
HA_CONFIG = ROOT / "scripts" / "ha_config.py"
# The interpreter that runs Home Assistant, and the version it must report.
HA_PYTHON = os.environ.get("FLEXMEASURES_HA_PYTHON") or sys.executable
HA_VERSION = os.environ.get("FLEXMEASURES_HA_VERSION")
SCREENSHOTS = ROOT / "screenshots"
if os.environ.get("FLEXMEASURES_HA_PYTHON"):  # keep the first run's screenshots
    SCREENSHOTS /= f"ha-{HA_VERSION or Path(HA_PYTHON).parents[1].name}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # callers make only the leaf
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--headless",
]
USERNAME = "dev"
PASSWORD = "dev-password"  # the throw-away login of a loopback-only test HA
START_TIMEOUT = 180


def _installed_packages() -> set[str]:
    """name==version of every distribution in Home Assistant's environment."""
    out = subprocess.run(
        [
            HA_PYTHON,
            "-c",
            (
                "import importlib.metadata as m, json; print(json.dumps(sorted("
                "f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions())))"
            ),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout))


def _home_assistant_version() -> str:
    out = subprocess.run(
        [
            HA_PYTHON,
            "-c",
            "from homeassistant.const import __version__; print(__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def pytest_report_header() -> str:
    """Say which Home Assistant the browser checks start."""
    return (
        f"browser checks run Home Assistant {_home_assistant_version()} ({HA_PYTHON})"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything here `browser`."""
    for item in items:
        if "tests/browser/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """No in-process `hass` here: Home Assistant runs as its own process."""


@dataclass
class HomeAssistant:
    """A running Home Assistant process."""

    url: str
    config_dir: Path
    username: str
    password: str


def _free_port() -> int:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0));"
                " print(s.getsockname()[1])"
            ),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


@pytest.fixture(scope="session")
def start_home_assistant(
    tmp_path_factory: pytest.TempPathFactory,
    fm_server: dict[str, str],  # noqa: F811
) -> Iterator[Callable[..., HomeAssistant]]:
    """Start Home Assistant processes (stopped at the end of the session)."""
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(*, with_entry: bool) -> HomeAssistant:
        began = time.monotonic()
        config_dir = tmp_path_factory.mktemp("ha-config")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        prepare = [HA_PYTHON, str(HA_CONFIG), "prepare", str(config_dir)]
        prepare += ["--port", str(port), "--username", USERNAME]
        prepare += ["--password", PASSWORD]
        if not with_entry:
            prepare.append("--no-entry")
        subprocess.run(prepare, env=os.environ | fm_server, check=True)
        prepared = time.monotonic() - began
        log = config_dir / "hass.out"
        packages_before = _installed_packages()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [HA_PYTHON, "-m", "homeassistant", "-c", str(config_dir)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append((process, log))
        # should the session end without its teardown (an internal error), still stop it
        atexit.register(process.kill)
        started = time.monotonic()
        waited = subprocess.run(
            [
                *(sys.executable, str(HA_CONFIG), "wait", url),
                *("--pid", str(process.pid), "--timeout", str(START_TIMEOUT)),
                *("--username", USERNAME, "--password", PASSWORD),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        print(waited.stdout, end="")
        if waited.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            pytest.fail(f"Home Assistant did not start:\n{waited.stderr}\n{tail}")
        # "[ha_config] Home Assistant 2026.11.0 running after 5.2 s"
        version = waited.stdout.split("Home Assistant ", 1)[1].split()[0]
        print(
            f"Home Assistant {version} at {url} ready in "
            f"{time.monotonic() - started:.1f} s (its config dir prepared in "
            f"{prepared:.1f} s before; {'with' if with_entry else 'without'} the entry)"
        )
        if HA_VERSION is not None and version != HA_VERSION:
            pytest.fail(f"Home Assistant {version} runs, not {HA_VERSION}")
        if installed := sorted(_installed_packages() - packages_before):
            pytest.fail(
                f"Home Assistant {version} installed {', '.join(installed)} at its "
                "start: pin them (requirements_develop.txt for the plugin's release, "
                "requirements_ha_latest.txt for the newest)"
            )
        return HomeAssistant(url, config_dir, USERNAME, PASSWORD)

    yield start

    began = time.monotonic()
    for process, _log in processes:
        process.terminate()
    for process, _log in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    print(
        f"\nstopped {len(processes)} Home Assistant process(es) in "
        f"{time.monotonic() - began:.1f} s"
    )


@pytest.fixture(scope="session")
def shared_home_assistant(
    start_home_assistant: Callable[..., HomeAssistant],
) -> HomeAssistant:
    """The one Home Assistant (set up as scripts/develop sets it up) of the session."""
    return start_home_assistant(with_entry=True)


@pytest.fixture(scope="module")
def ha(shared_home_assistant: HomeAssistant) -> HomeAssistant:
    """Home Assistant set up as scripts/develop sets it up (entry included).

    Shared by the modules of the session: what a module changes, it puts back.
    Override it in a module that needs a Home Assistant of its own.
    """
    return shared_home_assistant


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One headless Chromium for the session: its DevTools URL on 127.0.0.1.

    Launched by Playwright in a process of its own (tests/browser/chromium_server.py)
    and stopped by its PID at the end.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no {CHROMIUM}: apt-get install chromium fonts-liberation")
    began = time.monotonic()
    log = tmp_path_factory.mktemp("chromium") / "chromium_server.out"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [
                *(sys.executable, str(Path(__file__).with_name("chromium_server.py"))),
                *(str(_free_port()), CHROMIUM, *CHROMIUM_ARGS),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    atexit.register(process.kill)
    assert process.stdout is not None
    endpoint = process.stdout.readline().strip()
    if not endpoint:
        process.wait(timeout=30)
        pytest.fail(f"Chromium did not start:\n{log.read_text(errors='replace')}")
    print(f"Chromium at {endpoint} ready in {time.monotonic() - began:.1f} s")
    yield endpoint
    assert process.stdin is not None
    process.stdin.close()  # it closes the browser and exits
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.asynccontextmanager
async def new_page(
    chromium: str,
    *,
    color_scheme: str = "light",
    viewport: dict[str, int] | None = None,
) -> AsyncIterator[Page]:
    """A page in a new browser context of the session's Chromium.

    Playwright's async API on the test's own event loop: its sync API marks the
    loop as running and breaks the plugin's async fixtures. The context is new
    (no cookies, storage or cache of an earlier test) and closed after.
    """
    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(chromium)
        try:
            context = await browser.new_context(
                viewport=viewport or {"width": 1280, "height": 900},
                color_scheme=color_scheme,  # type: ignore[arg-type]
            )
            context.set_default_timeout(30_000)
            try:
                yield await context.new_page()
            finally:
                await context.close()
        finally:
            await browser.close()  # of a connected browser: disconnects only


@pytest.fixture
async def page(socket_enabled: None, chromium: str) -> AsyncIterator[Page]:
    """A page in a new browser context of the session's Chromium."""
    async with new_page(chromium) as fresh:
        yield fresh


# The frontend's saved login (localStorage `hassTokens`) per Home Assistant URL,
# from the first login through the login page in this session.
_LOGINS: dict[str, str] = {}
_SAVE_LOGIN = "(tokens) => localStorage.setItem('hassTokens', tokens)"
_CONNECTED = "() => document.querySelector('home-assistant')?.hass?.connected === true"


async def log_in(page: Page, ha: HomeAssistant) -> None:
    """Log in; afterwards the frontend runs, connected to Home Assistant.

    The first time per Home Assistant: through its login page, as a user does.
    After that, a new context gets the login the frontend saved then (as a
    browser that was logged in before) instead of the form again.
    """
    if (tokens := _LOGINS.get(ha.url)) is not None:
        # a page of Home Assistant's origin that is not the frontend, to save it
        await page.goto(f"{ha.url}/manifest.json")
        await page.evaluate(_SAVE_LOGIN, tokens)
        await page.goto(ha.url)
    else:
        await page.goto(ha.url)
        await page.locator("input[name=username]").fill(ha.username)
        await page.locator("input[name=password]").fill(ha.password)
        await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(
        lambda url: "/auth/" not in url and "auth_callback" not in url
    )
    await page.wait_for_function(_CONNECTED)
    if tokens is None:
        saved = await page.evaluate("() => localStorage.getItem('hassTokens')")
        if saved:  # the frontend keeps the login: later contexts take it
            _LOGINS[ha.url] = str(saved)
        else:
            print("the frontend did not save the login: each test logs in")


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under ./screenshots/."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path.relative_to(ROOT)}")
    return path
