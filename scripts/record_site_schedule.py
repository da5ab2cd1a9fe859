#!/usr/bin/env python3
"""Record a site schedule against the demo FlexMeasures server, as test fixtures.

    scripts/record_site_schedule.py [OUT_DIR]   (default tests/fixtures/site_schedule)

One job on the building (FM_TOY_BUILDING_ASSET_ID) for two devices below it,
the battery and the EV charger, each with soc-at-start, soc-min, soc-max and
power-capacity (50 kW + 22 kW), and `site-power-capacity: "60 kW"` in the
flex-context: below their sum, so the site's capacity binds. Then each
device's part of the job, and what the server answers around it (a sensor
that is not in the job, a sensor twice, an unknown sensor).

Each exchange goes to one JSON file (request, status, body):
`{name, request: {method, url, headers, json}, status, headers, body,
elapsed_ms}`; the token is never written (the Authorization header reads
"REDACTED"). Checks that the two parts add up to within -60..60 kW in every
step, and prints the largest summed step. Standard library only; the server
comes from `scripts/flexmeasures-server status` (start it first).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.request

ROOT = Path(__file__).resolve().parents[1]
SITE_CAPACITY_KW = 60.0
KEPT_HEADERS = (
    "Content-Type",
    "FlexMeasures-Version",
    "API-Version",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
)


def server() -> dict[str, str]:
    """The demo server's KEY=value lines."""
    out = subprocess.run(
        [ROOT / "scripts" / "flexmeasures-server", "status"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


class Recorder:
    """Sends requests and writes each exchange to a numbered file."""

    def __init__(self, base: str, out: Path) -> None:
        self.base = base
        self.out = out
        self.count = 0
        self.token = ""

    def send(
        self, method: str, path: str, body: Any = None, *, token: bool = True
    ) -> dict[str, Any]:
        """One exchange, as a fixture holds it (the token left out)."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = self.token
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers
        )
        began = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status, raw, got = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as err:
            status, raw, got = err.code, err.read(), err.headers
        return {
            "request": {
                "method": method,
                "url": self.base + path,
                "headers": {"Authorization": "REDACTED"},
                "json": body,
            },
            "status": status,
            "headers": {k: got[k] for k in KEPT_HEADERS if got.get(k) is not None},
            "body": json.loads(raw) if raw.strip() else None,
            "elapsed_ms": round((time.monotonic() - began) * 1000, 1),
        }

    def write(self, name: str, exchange: dict[str, Any]) -> None:
        """Write `NN_name.json`."""
        self.count += 1
        text = json.dumps({"name": name, **exchange}, indent=2) + "\n"
        if self.token and self.token in text:
            raise SystemExit("refusing to write a token into a fixture")
        (self.out / f"{self.count:02d}_{name}.json").write_text(text)

    def record(self, name: str, method: str, path: str, body: Any = None) -> Any:
        """One exchange, written; return (status, body)."""
        exchange = self.send(method, path, body)
        self.write(name, exchange)
        return exchange["status"], exchange["body"]

    def poll(self, name: str, path: str) -> Any:
        """Poll a schedule until it is no longer 202; record the final answer."""
        for _ in range(400):
            exchange = self.send("GET", path)
            if exchange["status"] != 202:
                self.write(name, exchange)
                return exchange["status"], exchange["body"]
            time.sleep(0.25)
        raise SystemExit(f"{path}: still pending")


def main() -> int:
    out = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else ROOT / "tests/fixtures/site_schedule"
    )
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("[0-9][0-9]_*.json"):
        old.unlink()
    fm = server()
    building = fm["FM_TOY_BUILDING_ASSET_ID"]
    battery, ev = int(fm["FM_TOY_BATTERY_SENSOR_ID"]), int(fm["FM_TOY_EV_SENSOR_ID"])
    rec = Recorder(fm["FLEXMEASURES_URL"], out)
    login = rec.send(
        "POST",
        "/api/requestAuthToken",
        {"email": fm["FLEXMEASURES_EMAIL"], "password": fm["FLEXMEASURES_PASSWORD"]},
        token=False,
    )
    assert login["status"] == 200, login["status"]
    rec.token = login["body"]["auth_token"]

    # Tomorrow (UTC), a whole day: the demo's prices cover it.
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today + dt.timedelta(days=1)
    battery_model = {
        "sensor": battery,
        "soc-at-start": "100 kWh",
        "soc-min": "50 kWh",
        "soc-max": "450 kWh",
        "power-capacity": "50 kW",
    }
    ev_model = {
        "sensor": ev,
        "soc-at-start": "10 kWh",
        "soc-min": "0 kWh",
        "soc-max": "60 kWh",
        "power-capacity": "22 kW",
    }
    trigger = {
        "start": start.isoformat(),
        "duration": "PT24H",
        "flex-model": [battery_model, ev_model],
        "flex-context": {
            "site-power-capacity": f"{SITE_CAPACITY_KW:g} kW",
            "consumption-price": {"sensor": int(fm["FM_TOY_PRICE_SENSOR_ID"])},
        },
        "force-new-job-creation": True,
    }
    trigger_path = f"/api/v3_0/assets/{building}/schedules/trigger"
    status, answer = rec.record("trigger_site_schedule", "POST", trigger_path, trigger)
    assert status == 202, (status, answer)
    job = answer["schedule"]
    parts = {}
    for name, sensor in (("battery", battery), ("ev_charger", ev)):
        status, parts[name] = rec.poll(
            f"get_site_schedule_{name}",
            f"/api/v3_0/sensors/{sensor}/schedules/{job}?duration=PT24H",
        )
        assert status == 200, (status, parts[name])
    # A sensor below the building that is not in the job (the solar sensor).
    rec.poll(
        "get_site_schedule_sensor_not_in_job",
        f"/api/v3_0/sensors/{fm['FM_TOY_SOLAR_SENSOR_ID']}/schedules/{job}?duration=PT24H",
    )
    twice = {**trigger, "flex-model": [battery_model, dict(battery_model)]}
    rec.record("trigger_site_sensor_twice", "POST", trigger_path, twice)
    unknown = {**trigger, "flex-model": [battery_model, {**ev_model, "sensor": 99999}]}
    rec.record("trigger_site_unknown_sensor", "POST", trigger_path, unknown)

    sums = [
        b + e
        for b, e in zip(
            parts["battery"]["values"], parts["ev_charger"]["values"], strict=True
        )
    ]
    largest = max(sums, key=abs)
    print(
        f"job {job}: {len(sums)} steps from {parts['battery']['start']}; largest "
        f"summed step {largest:.3f} kW against {SITE_CAPACITY_KW:g} kW; battery "
        f"{min(parts['battery']['values']):.1f}..{max(parts['battery']['values']):.1f} kW, "
        f"EV {min(parts['ev_charger']['values']):.1f}..{max(parts['ev_charger']['values']):.1f} kW"
    )
    if any(abs(s) > SITE_CAPACITY_KW + 1e-6 for s in sums):
        print("the summed schedule exceeds the site's capacity", file=sys.stderr)
        return 1
    print(f"wrote {rec.count} files to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
