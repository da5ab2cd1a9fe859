"""A Home Assistant config dir with the FlexMeasures integration, and talking to it.

One implementation for scripts/develop and the browser checks (tests/browser):

  python scripts/ha_config.py prepare DIR [--port 8123] [--username dev]
      [--password dev-password] [--no-entry]
  python scripts/ha_config.py wait URL [--username ..] [--password ..] [--timeout 600]

`prepare` makes DIR a ready-to-start config dir (idempotent; run it before every start):
  - configuration.yaml and dashboards/flexmeasures.yaml from dev/ (always overwritten:
    edit the templates in dev/); the dashboard's __HOME_BATTERY_DEVICE_ID__ and
    __HOME_SITE_DEVICE_ID__ become the ids of the first schedule device and of the
    first site device (registered here if HA has not done it yet)
  - custom_components/flexmeasures -> this repo's custom_components/flexmeasures (symlink)
  - .storage/onboarding marked done, and an owner user (only if none exists yet)
  - .storage/http: bind 127.0.0.1 only, on --port (always rewritten)
  - unless --no-entry, and only if DIR has no .storage/core.config_entries yet: one
    FlexMeasures config entry for the demo server's toy account, with the schedule
    subentries "Home battery" and "EV charger", the site "Home" (the building
    planning both) and measurement subentries (see `config_entry`).
    The FlexMeasures values come from the environment: the KEY=value lines that
    `scripts/flexmeasures-server status` prints (FLEXMEASURES_URL, FLEXMEASURES_EMAIL,
    FLEXMEASURES_PASSWORD, FM_TOY_*); FM_TOY_SOC_SENSOR_ID is used when given.

Why the entry is written into .storage before the first start rather than created
through the config flow over the REST API: it works whatever steps and drop-downs
the (sub)entry flows have, needs no running HA, and the first start already loads
the integration. It depends only on the public contract (entry data `url`, `email`,
`password`, `verify_ssl`; subentry types and data keys, as the README's
Configuration section names them) and on HA's own ConfigEntry serialisation,
which this script uses rather than copies.

`wait` waits until HA at URL answers, logs in through the normal login flow, waits
until HA is running and prints the state of each FlexMeasures config entry.
The HTTP helpers below (`wait_for_http`, `login`, `api_get`, `api_post`, `wait_until_running`)
use only the standard library and are imported by tests/browser.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
import json
import os
from pathlib import Path
import shutil
import sys
import time
from types import MappingProxyType
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the integration's own code, run as a script
    sys.path.insert(0, str(ROOT))
TEMPLATES = ROOT / "dev"
INTEGRATION = ROOT / "custom_components" / "flexmeasures"
DOMAIN = "flexmeasures"

DEFAULT_USERNAME = "dev"
DEFAULT_PASSWORD = "dev-password"  # a throw-away login for a loopback-only dev HA
DEFAULT_PORT = 8123
DASHBOARD_URL = "/flexmeasures-dev/battery"
# In dev/dashboard.yaml, replaced by the id of the "Home battery" device.
DEVICE_ID_PLACEHOLDER = "__HOME_BATTERY_DEVICE_ID__"
# In dev/dashboard.yaml, replaced by the id of the "Home" site device.
SITE_DEVICE_ID_PLACEHOLDER = "__HOME_SITE_DEVICE_ID__"

# The sub-entries' titles; entity ids derive from them (dev/dashboard.yaml).
SCHEDULE_TITLE = "Home battery"
EV_TITLE = "EV charger"
SITE_TITLE = "Home"
# The devices' power capacities and the site's (below their sum: it binds).
BATTERY_POWER_KW = 500.0
EV_POWER_KW = 22.0
SITE_POWER_KW = 400.0
SOC_ENTITY = "sensor.demo_battery_state_of_charge"
HOUSE_POWER_ENTITY = "sensor.demo_house_power"


# --------------------------------------------------------------------- the config dir


def prepare(
    config_dir: Path,
    *,
    port: int = DEFAULT_PORT,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    fm: Mapping[str, str] | None = None,
) -> list[str]:
    """Make `config_dir` ready to start; return notes worth printing."""
    notes: list[str] = []
    storage = config_dir / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    (config_dir / "dashboards").mkdir(exist_ok=True)
    shutil.copyfile(TEMPLATES / "configuration.yaml", config_dir / "configuration.yaml")
    for name in ("automations.yaml", "scripts.yaml", "scenes.yaml"):
        (config_dir / name).touch()

    components = config_dir / "custom_components"
    components.mkdir(exist_ok=True)
    link = components / DOMAIN
    if (link.is_symlink() or link.exists()) and link.resolve() != INTEGRATION.resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(INTEGRATION, target_is_directory=True)

    onboarding = storage / "onboarding"
    if not onboarding.exists():
        _write_store(
            onboarding,
            "onboarding",
            {"done": ["user", "core_config", "analytics", "integration"]},
            version=4,
            minor_version=1,
        )
    _write_http(storage / "http", port)

    if not (storage / "auth_provider.homeassistant").exists():
        asyncio.run(_create_owner(config_dir, username, password))
        notes.append(f"created the owner {username!r}")

    entries = storage / "core.config_entries"
    if fm is not None and not entries.exists():
        entry, entry_notes = config_entry(fm)
        _write_config_entries(entries, [entry])
        notes.append(
            f"configured FlexMeasures {fm['FLEXMEASURES_URL']} as {fm['FLEXMEASURES_EMAIL']}"
        )
        notes.extend(entry_notes)

    # The dashboard's schedule cards name the "Home battery" and "Home" devices by id.
    device_ids: dict[str, str] = {}
    if entries.exists():
        device_ids = asyncio.run(_device_ids(config_dir))
    dashboard = (TEMPLATES / "dashboard.yaml").read_text()
    for subentry_type, placeholder in (
        ("schedule", DEVICE_ID_PLACEHOLDER),
        ("site", SITE_DEVICE_ID_PLACEHOLDER),
    ):
        dashboard = dashboard.replace(placeholder, device_ids.get(subentry_type, ""))
    (config_dir / "dashboards" / "flexmeasures.yaml").write_text(dashboard)
    return notes


async def _device_ids(config_dir: Path) -> dict[str, str]:
    """The device id of the first FlexMeasures schedule and site subentry (made if needed).

    A device's id is random, made when the device is first registered; the
    integration registers a schedule (or site) device with identifiers (domain,
    subentry id) (entity.py, site_entities.py). Registering it here first, with
    HA's own device registry, lets the dashboard name it by id before Home
    Assistant ever ran; when the integration starts it finds this device and
    completes it.
    """
    from homeassistant.config_entries import ConfigEntries
    from homeassistant.core import CoreState, HomeAssistant
    from homeassistant.helpers import device_registry as dr

    hass = HomeAssistant(str(config_dir))
    hass.config_entries = ConfigEntries(hass, {})
    await hass.config_entries.async_initialize()
    dr.async_setup(hass)
    await dr.async_load(hass)
    device_ids: dict[str, str] = {}
    for entry in hass.config_entries.async_entries(DOMAIN):
        for subentry in entry.subentries.values():
            if subentry.subentry_type not in ("schedule", "site") or (
                subentry.subentry_type in device_ids
            ):
                continue
            device = dr.async_get(hass).async_get_or_create(
                config_entry_id=entry.entry_id,
                config_subentry_id=subentry.subentry_id,
                identifiers={(DOMAIN, subentry.subentry_id)},
                name=subentry.title,
            )
            device_ids[subentry.subentry_type] = device.id
    hass.set_state(CoreState.running)  # so that async_stop writes the registry
    await hass.async_stop()
    return device_ids


def _write_store(
    path: Path, key: str, data: Any, *, version: int, minor_version: int
) -> None:
    """Write a file in HA's .storage format."""
    payload = {
        "version": version,
        "minor_version": minor_version,
        "key": key,
        "data": data,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)


def _write_http(path: Path, port: int) -> None:
    """Bind to 127.0.0.1 only.

    HA 2026.10 moves `http:` YAML into .storage/http as a *pending* trial that falls
    back to the default (all interfaces) after 5 minutes; a stable entry with the
    YAML migration marked done is used as it is.
    """
    from homeassistant.components.http import config as http_config
    from homeassistant.util import dt as dt_util

    stable = http_config.HTTP_STORAGE_SCHEMA(
        {"server_host": ["127.0.0.1"], "server_port": port}
    )
    stable.update(
        created_at=dt_util.utcnow().isoformat(), error=None, error_message=None
    )
    _write_store(
        path,
        http_config.STORAGE_KEY,
        {"stable": stable, "pending": None, "yaml_migration_done": True},
        version=http_config.STORAGE_VERSION,
        minor_version=http_config.STORAGE_MINOR_VERSION,
    )


async def _create_owner(config_dir: Path, username: str, password: str) -> None:
    """Create the owner as onboarding's user step does (no HTTP server needed)."""
    from homeassistant.auth import auth_manager_from_config
    from homeassistant.auth.const import GROUP_ID_ADMIN
    from homeassistant.auth.providers.homeassistant import HassAuthProvider
    from homeassistant.config_entries import ConfigEntries
    from homeassistant.core import CoreState, HomeAssistant
    from homeassistant.helpers import (
        device_registry as dr,
        entity_registry as er,
    )

    hass = HomeAssistant(str(config_dir))
    hass.config_entries = ConfigEntries(hass, {})
    await hass.config_entries.async_initialize()
    dr.async_setup(hass)
    await asyncio.gather(dr.async_load(hass), er.async_load(hass))
    hass.auth = await auth_manager_from_config(hass, [{"type": "homeassistant"}], [])
    provider = hass.auth.auth_providers[0]
    assert isinstance(provider, HassAuthProvider)
    await provider.async_initialize()
    await provider.async_add_auth(username, password)
    # the first user created is the owner
    user = await hass.auth.async_create_user(
        username.capitalize(), group_ids=[GROUP_ID_ADMIN]
    )
    credentials = await provider.async_get_or_create_credentials({"username": username})
    await hass.auth.async_link_user(user, credentials)
    # async_stop ignores a hass that never ran: mark it running so that the stop
    # writes the delayed saves (.storage/auth, auth_provider.homeassistant).
    hass.set_state(CoreState.running)
    await hass.async_stop()


async def _account(fm: Mapping[str, str]) -> Any:
    """What the config flow learns about the login (its AccountInfo), by its code."""
    import aiohttp

    from custom_components.flexmeasures.api import FlexMeasuresClient
    from custom_components.flexmeasures.config_flow import AccountInfo

    async with aiohttp.ClientSession() as session:
        client = FlexMeasuresClient(
            session,
            fm["FLEXMEASURES_URL"],
            fm["FLEXMEASURES_EMAIL"],
            fm["FLEXMEASURES_PASSWORD"],
        )
        await client.login()
        return AccountInfo(
            url=client.url,
            server_info=await client.get_server_info(),
            user=await client.get_current_user(),
            account=await client.get_account(),
        )


def config_entry(fm: Mapping[str, str]) -> tuple[Any, list[str]]:
    """The FlexMeasures config entry for the demo server's toy account.

    Entry data: url, email, password, verify_ssl; unique_id and title as the config
    flow sets them (its AccountInfo, filled by the integration's own client).
    Subentries (data keys as the README's Configuration tables name them;
    FlexMeasures ids as strings): schedule "Home battery" (the toy battery: soc-max
    450 kWh, power capacity 500 kW); when the server has the EV charger
    (FM_TOY_EV_SENSOR_ID, FM_TOY_BUILDING_ASSET_ID), schedule "EV charger" (60 kWh,
    22 kW, no state of charge entity: each plan starts empty) and the site "Home"
    (the building, both devices, 400 kW: below their 522 kW together);
    measurement house power -> the toy solar sensor (the demo server has no
    consumption sensor; kW, so W converts) and, when the server has one
    (FM_TOY_SOC_SENSOR_ID), battery SoC -> that sensor.
    """
    from homeassistant.config_entries import SOURCE_USER, ConfigEntry

    from custom_components.flexmeasures.config_flow import FlexMeasuresConfigFlow

    account = asyncio.run(_account(fm))
    url, email, password = (
        account.url,
        fm["FLEXMEASURES_EMAIL"],
        fm["FLEXMEASURES_PASSWORD"],
    )
    notes: list[str] = []
    subentries: list[dict[str, Any]] = [
        {
            "subentry_type": "schedule",
            "title": SCHEDULE_TITLE,
            "unique_id": None,
            "data": {
                "power_sensor": fm["FM_TOY_BATTERY_SENSOR_ID"],
                "consumption_price_sensor": fm["FM_TOY_PRICE_SENSOR_ID"],
                "production_price_sensor": fm["FM_TOY_PRICE_SENSOR_ID"],
                "soc_entity": SOC_ENTITY,
                "capacity": 450.0,
                "soc_min": 45.0,
                "soc_max": 450.0,
                "roundtrip_efficiency": 90.0,
                "power_capacity": BATTERY_POWER_KW,
                "duration": 24,
                "update_interval": 15,
            },
        },
        {
            "subentry_type": "measurement",
            "title": "House power",
            "unique_id": None,
            "data": {
                "entity_id": HOUSE_POWER_ENTITY,
                "sensor": fm["FM_TOY_SOLAR_SENSOR_ID"],
            },
        },
    ]
    notes.append(
        f"house power ({HOUSE_POWER_ENTITY}) goes to the solar sensor "
        f"{fm['FM_TOY_SOLAR_SENSOR_ID']}: the demo server has no consumption sensor"
    )
    if fm.get("FM_TOY_EV_SENSOR_ID") and fm.get("FM_TOY_BUILDING_ASSET_ID"):
        subentries.extend(_site_subentries(fm))
    else:
        notes.append(
            "no EV charger and no site: the server has no FM_TOY_EV_SENSOR_ID "
            "(or FM_TOY_BUILDING_ASSET_ID)"
        )
    if fm.get("FM_TOY_SOC_SENSOR_ID"):
        subentries.append(
            {
                "subentry_type": "measurement",
                "title": "Battery state of charge",
                "unique_id": None,
                "data": {"entity_id": SOC_ENTITY, "sensor": fm["FM_TOY_SOC_SENSOR_ID"]},
            }
        )
    else:
        notes.append(
            f"no SoC measurement: the demo server has no state-of-charge sensor "
            f"(FM_TOY_SOC_SENSOR_ID); {SOC_ENTITY} only feeds the schedule"
        )
    entry = ConfigEntry(
        data={"url": url, "email": email, "password": password, "verify_ssl": True},
        discovery_keys=MappingProxyType({}),
        domain=DOMAIN,
        minor_version=getattr(FlexMeasuresConfigFlow, "MINOR_VERSION", 1),
        options={},
        source=SOURCE_USER,
        subentries_data=subentries,  # type: ignore[arg-type]
        title=account.title,
        unique_id=account.unique_id,
        version=FlexMeasuresConfigFlow.VERSION,
    )
    return entry, notes


def _site_subentries(fm: Mapping[str, str]) -> list[dict[str, Any]]:
    """Schedule "EV charger" and site "Home" (the building with both devices)."""
    price = fm["FM_TOY_PRICE_SENSOR_ID"]
    return [
        {
            "subentry_type": "schedule",
            "title": EV_TITLE,
            "unique_id": None,
            "data": {
                "power_sensor": fm["FM_TOY_EV_SENSOR_ID"],
                "consumption_price_sensor": price,
                "production_price_sensor": price,
                "capacity": 60.0,
                "soc_min": 0.0,
                "soc_max": 60.0,
                "roundtrip_efficiency": 90.0,
                "power_capacity": EV_POWER_KW,
                "duration": 24,
                "update_interval": 15,
            },
        },
        {
            "subentry_type": "site",
            "title": SITE_TITLE,
            "unique_id": None,
            "data": {
                "asset": fm["FM_TOY_BUILDING_ASSET_ID"],
                "devices": [fm["FM_TOY_BATTERY_SENSOR_ID"], fm["FM_TOY_EV_SENSOR_ID"]],
                "site_power_capacity": SITE_POWER_KW,
                "consumption_price_sensor": price,
                "production_price_sensor": price,
                "duration": 24,
                "update_interval": 15,
            },
        },
    ]


def _write_config_entries(path: Path, entries: list[Any]) -> None:
    """.storage/core.config_entries, serialised by HA's own ConfigEntry.as_dict."""
    from homeassistant import config_entries as ce

    _write_store(
        path,
        ce.STORAGE_KEY,
        {"entries": [entry.as_dict() for entry in entries]},
        version=ce.STORAGE_VERSION,
        minor_version=ce.STORAGE_VERSION_MINOR,
    )


# --------------------------------------------------------------------- a running HA


def _request(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    form: Mapping[str, str] | None = None,
    token: str | None = None,
    timeout: float = 10,
) -> Any:
    """One HTTP request; the decoded JSON answer (HTTPError for 4xx/5xx)."""
    headers = {}
    data = None
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read().decode()
    return json.loads(text) if text else None


def wait_for_http(base: str, timeout: float, is_alive: Any = None) -> None:
    """Wait until HA's HTTP server answers at `base` (TimeoutError if not)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _request("GET", f"{base}/manifest.json", timeout=5)
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            pass
        else:
            return
        if is_alive is not None and not is_alive():
            raise RuntimeError("Home Assistant exited while starting")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer from {base} in {timeout:.0f} s")
        time.sleep(0.5)


def login(base: str, username: str, password: str) -> str:
    """An access token through the normal login flow."""
    client_id = f"{base}/"
    flow = _request(
        "POST",
        f"{base}/auth/login_flow",
        json_body={
            "client_id": client_id,
            "handler": ["homeassistant", None],
            "redirect_uri": f"{base}/?auth_callback=1",
        },
    )
    result = _request(
        "POST",
        f"{base}/auth/login_flow/{flow['flow_id']}",
        json_body={"username": username, "password": password, "client_id": client_id},
    )
    if result.get("type") != "create_entry":
        raise RuntimeError(f"login failed: {result.get('errors')}")
    tokens = _request(
        "POST",
        f"{base}/auth/token",
        form={
            "grant_type": "authorization_code",
            "code": result["result"],
            "client_id": client_id,
        },
    )
    return str(tokens["access_token"])


def api_get(base: str, token: str, path: str) -> Any:
    """GET an authenticated REST API path."""
    return _request("GET", f"{base}{path}", token=token)


def api_post(base: str, token: str, path: str, body: Any) -> Any:
    """POST JSON to an authenticated REST API path."""
    return _request("POST", f"{base}{path}", json_body=body, token=token, timeout=120)


def wait_until_running(base: str, token: str, timeout: float) -> None:
    """Wait until HA has finished starting (core state RUNNING)."""
    deadline = time.monotonic() + timeout
    while api_get(base, token, "/api/config").get("state") != "RUNNING":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{base} not running after {timeout:.0f} s")
        time.sleep(0.5)


def flexmeasures_entries(base: str, token: str) -> list[dict[str, Any]]:
    """The FlexMeasures config entries (title, state, reason, ...)."""
    entries = api_get(base, token, f"/api/config/config_entries/entry?domain={DOMAIN}")
    return list(entries)


# --------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="make a config dir ready to start")
    prep.add_argument("config_dir", type=Path)
    prep.add_argument("--port", type=int, default=DEFAULT_PORT)
    prep.add_argument("--username", default=DEFAULT_USERNAME)
    prep.add_argument("--password", default=DEFAULT_PASSWORD)
    prep.add_argument(
        "--no-entry", action="store_true", help="no pre-configured FlexMeasures entry"
    )
    wait = sub.add_parser("wait", help="wait until HA at URL runs; print the entries")
    wait.add_argument("url")
    wait.add_argument("--username", default=DEFAULT_USERNAME)
    wait.add_argument("--password", default=DEFAULT_PASSWORD)
    wait.add_argument("--timeout", type=float, default=600)
    wait.add_argument("--pid", type=int, help="fail early when this process exits")
    args = parser.parse_args(argv)

    if args.command == "prepare":
        fm = None
        if not args.no_entry:
            missing = [
                k
                for k in (
                    "FLEXMEASURES_URL",
                    "FLEXMEASURES_EMAIL",
                    "FLEXMEASURES_PASSWORD",
                    "FM_TOY_BATTERY_SENSOR_ID",
                    "FM_TOY_PRICE_SENSOR_ID",
                    "FM_TOY_SOLAR_SENSOR_ID",
                )
                if not os.environ.get(k)
            ]
            if missing:
                parser.error(f"--no-entry or set {', '.join(missing)}")
            fm = dict(os.environ)
        for note in prepare(
            args.config_dir.resolve(),
            port=args.port,
            username=args.username,
            password=args.password,
            fm=fm,
        ):
            print(f"[ha_config] {note}", file=sys.stderr)
        return 0

    base = args.url.rstrip("/")
    start = time.monotonic()

    def alive() -> bool:
        if args.pid is None:
            return True
        try:
            os.kill(args.pid, 0)
        except OSError:
            return False
        return True

    wait_for_http(base, args.timeout, alive)
    token = login(base, args.username, args.password)
    wait_until_running(base, token, args.timeout - (time.monotonic() - start))
    version = api_get(base, token, "/api/config")["version"]
    print(
        f"[ha_config] Home Assistant {version} running after "
        f"{time.monotonic() - start:.1f} s"
    )
    for entry in flexmeasures_entries(base, token):
        reason = f" ({entry['reason']})" if entry.get("reason") else ""
        print(
            f"[ha_config] FlexMeasures entry {entry['title']!r}: {entry['state']}{reason}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
