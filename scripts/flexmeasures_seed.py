"""Seed the demo FlexMeasures server (run by scripts/flexmeasures-server).

Runs the real `flexmeasures` CLI commands inside one process (each CLI start
costs ~10 s of imports). Idempotent: the accounts are made once (their ids go to
$BASE_DIR/ids.env); the EV charger below the building is added when missing (also
to a demo seeded before it existed), found by name and parent, never made twice;
prices are added for yesterday, today and the next two days unless
SEED_PRICES=0, so the demo keeps working on later days.
"""

import contextlib
import datetime as dt
import io
import math
import os
from pathlib import Path
import re
import sys

with contextlib.redirect_stdout(io.StringIO()):
    from flexmeasures.app import create

    app = create()
# CLI commands skip permission checks only when they think they run as the CLI.
app.config["PRETEND_RUNNING_AS_CLI"] = True
runner = app.test_cli_runner()
base = Path(os.environ["BASE_DIR"])
ids_file = base / "ids.env"


def cli(*args: str) -> str:
    with app.app_context():
        result = runner.invoke(args=list(args), catch_exceptions=False)
    print(f"$ flexmeasures {' '.join(args)}\n{result.output}", file=sys.stderr)
    if result.exit_code != 0:
        raise SystemExit(f"flexmeasures {args} failed ({result.exit_code})")
    return result.output


def seed_accounts() -> dict[str, str]:
    out = cli("add", "toy-account", "--kind", "battery", "--shell-vars")
    ids = dict(re.findall(r"^(FM_TOY_\w+)=(\d+)$", out, re.MULTILINE))
    from flexmeasures.data import db
    from flexmeasures.data.models.generic_assets import GenericAssetType
    from sqlalchemy import select

    with app.app_context():
        battery_type = str(
            db.session.execute(
                select(GenericAssetType.id).filter_by(name="battery")
            ).scalar_one()
        )
    account = re.search(r"ID: (\d+)", cli("add", "account", "--name", "Other account"))
    assert account
    asset = re.search(
        r"asset with ID (\d+)",
        cli(
            "add",
            "asset",
            "--name",
            "other-battery",
            "--account",
            account[1],
            "--asset-type",
            battery_type,
            "--latitude",
            "52",
            "--longitude",
            "4.9",
        ),
    )
    assert asset
    sensor = re.search(
        r"sensor with ID (\d+)",
        cli(
            "add",
            "sensor",
            "--name",
            "power",
            "--unit",
            "kW",
            "--event-resolution",
            "PT15M",
            "--timezone",
            "UTC",
            "--asset",
            asset[1],
        ),
    )
    assert sensor
    ids.update(
        FM_OTHER_ACCOUNT_ID=account[1],
        FM_OTHER_ASSET_ID=asset[1],
        FM_OTHER_SENSOR_ID=sensor[1],
    )
    write_ids(ids)
    return ids


def write_ids(ids: dict[str, str]) -> None:
    """Replace the ids file at once (`status` may read it meanwhile)."""
    tmp = ids_file.with_suffix(".tmp")
    tmp.write_text("".join(f"{k}={v}\n" for k, v in ids.items()))
    tmp.replace(ids_file)


EV_ASSET_NAME = "toy-ev-charger"
EV_SENSOR_NAME = "power"


def seed_ev_charger(ids: dict[str, str]) -> None:
    """An EV charger (one-way EVSE) below the building, with a kW PT15M power sensor.

    Like the battery's sensor (kW, PT15M, Europe/Amsterdam); no stored
    flex-model. Looked up by name below the building first, so a second run
    (or a run after one that stopped half-way) adds nothing twice. The
    building's stored flex-context is not touched.
    """
    from flexmeasures.data import db
    from flexmeasures.data.models.generic_assets import GenericAsset, GenericAssetType
    from flexmeasures.data.models.time_series import Sensor
    from sqlalchemy import select

    building = ids["FM_TOY_BUILDING_ASSET_ID"]

    def find_asset() -> str | None:
        with app.app_context():
            found = db.session.execute(
                select(GenericAsset.id).filter_by(
                    name=EV_ASSET_NAME,
                    parent_asset_id=int(building),
                    account_id=int(ids["FM_TOY_ACCOUNT_ID"]),
                )
            ).scalar_one_or_none()
        return None if found is None else str(found)

    def find_sensor(asset_id: str) -> str | None:
        with app.app_context():
            found = db.session.execute(
                select(Sensor.id).filter_by(
                    name=EV_SENSOR_NAME, generic_asset_id=int(asset_id)
                )
            ).scalar_one_or_none()
        return None if found is None else str(found)

    asset_id = find_asset()
    if asset_id is None:
        with app.app_context():
            evse_type = str(
                db.session.execute(
                    select(GenericAssetType.id).filter_by(name="one-way_evse")
                ).scalar_one()
            )
        made = re.search(
            r"asset with ID (\d+)",
            cli(
                "add",
                "asset",
                "--name",
                EV_ASSET_NAME,
                "--account",
                ids["FM_TOY_ACCOUNT_ID"],
                "--asset-type",
                evse_type,
                "--parent-asset",
                building,
                "--latitude",
                "52.374",
                "--longitude",
                "4.88969",
            ),
        )
        assert made
        asset_id = made[1]
    sensor_id = find_sensor(asset_id)
    if sensor_id is None:
        made = re.search(
            r"sensor with ID (\d+)",
            cli(
                "add",
                "sensor",
                "--name",
                EV_SENSOR_NAME,
                "--unit",
                "kW",
                "--event-resolution",
                "PT15M",
                "--timezone",
                "Europe/Amsterdam",
                "--asset",
                asset_id,
            ),
        )
        assert made
        sensor_id = made[1]
    if (ids.get("FM_TOY_EV_ASSET_ID"), ids.get("FM_TOY_EV_SENSOR_ID")) != (
        asset_id,
        sensor_id,
    ):
        ids.update(FM_TOY_EV_ASSET_ID=asset_id, FM_TOY_EV_SENSOR_ID=sensor_id)
        write_ids(ids)


def seed_prices(price_sensor_id: str) -> None:
    """Hourly day-ahead-like prices (EUR/MWh) from yesterday to the day after tomorrow."""
    start = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= dt.timedelta(days=1)
    csv = base / "prices.csv"
    with csv.open("w") as f:
        f.write("datetime,price\n")
        for h in range(96):
            t = start + dt.timedelta(hours=h)
            hod = t.hour
            p = (
                80
                + 40 * math.sin((hod - 12) / 24 * 2 * math.pi)
                + (30 if 17 <= hod <= 20 else 0)
                - (25 if 11 <= hod <= 14 else 0)
            )
            f.write(f"{t:%Y-%m-%d %H:%M},{p:.2f}\n")
    cli(
        "add",
        "beliefs",
        "--sensor",
        price_sensor_id,
        "--source",
        "toy-user",
        "--unit",
        "EUR/MWh",
        "--timezone",
        "utc",
        "--allow-overwrite",
        str(csv),
    )


if ids_file.exists() and ids_file.stat().st_size:
    ids = dict(line.split("=", 1) for line in ids_file.read_text().split())
else:
    ids = seed_accounts()
seed_ev_charger(ids)
if os.environ.get("SEED_PRICES", "1") != "0":
    seed_prices(ids["FM_TOY_PRICE_SENSOR_ID"])
