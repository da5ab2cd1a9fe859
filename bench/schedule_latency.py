"""Schedule latency: trigger -> schedule in hand, over the server's own job time.

Run: .venv/bin/python bench/schedule_latency.py [N] [--first-delay S] [--backoff F]
Reads the server from `scripts/flexmeasures-server status`. For each of N
schedules it times trigger -> schedule in hand with FlexMeasuresClient and
divides it by the job's enqueued_at -> ended_at (GET /api/v3_0/jobs/<uuid>).
Target: median ratio <= 1.2.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
import statistics
import subprocess
import sys
import time

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from custom_components.flexmeasures.api import FlexMeasuresClient  # noqa: E402


def server() -> dict[str, str]:
    """KEY=value lines of the running demo server."""
    out = subprocess.run(  # noqa: S603 - our own script
        [ROOT / "scripts" / "flexmeasures-server", "status"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


async def main(
    runs: int, first_delay: float, max_delay: float, backoff: float
) -> float:
    """Run the benchmark; return the median ratio."""
    env = server()
    sensor_id = int(env["FM_TOY_BATTERY_SENSOR_ID"])
    ratios: list[float] = []
    async with aiohttp.ClientSession() as session:
        client = FlexMeasuresClient(
            session,
            env["FLEXMEASURES_URL"],
            env["FLEXMEASURES_EMAIL"],
            env["FLEXMEASURES_PASSWORD"],
        )
        await client.login()
        resolution = (await client.get_sensor(sensor_id)).event_resolution
        for run in range(runs):
            now = datetime.now(UTC)
            start = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0)
            began = time.perf_counter()
            job = await client.trigger_schedule(
                sensor_id,
                start=start,
                duration=timedelta(hours=12),
                flex_model={
                    "soc-at-start": f"{200 + run} kWh",
                    "soc-min": "50 kWh",
                    "soc-max": "450 kWh",
                },
                flex_context={
                    "consumption-price": {"sensor": int(env["FM_TOY_PRICE_SENSOR_ID"])}
                },
                force_new_job=True,
            )
            await client.wait_for_schedule(
                sensor_id,
                job,
                resolution=resolution,
                duration=timedelta(hours=12),
                first_delay=first_delay,
                max_delay=max_delay,
                backoff=backoff,
            )
            elapsed = time.perf_counter() - began
            status = await client.get_job_status(job)
            assert status.enqueued_at is not None
            assert status.ended_at is not None
            job_time = (status.ended_at - status.enqueued_at).total_seconds()
            ratio = elapsed / job_time
            ratios.append(ratio)
            print(
                f"run {run + 1}: client {elapsed:.3f} s, "
                f"server job {job_time:.3f} s, ratio {ratio:.2f}"
            )
    median = statistics.median(ratios)
    print(f"median ratio {median:.2f} (target <= 1.2)")
    return median


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="?", type=int, default=5)
    parser.add_argument("--first-delay", type=float, default=0.1)
    parser.add_argument("--max-delay", type=float, default=0.25)
    parser.add_argument("--backoff", type=float, default=1.5)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.first_delay, args.max_delay, args.backoff))
