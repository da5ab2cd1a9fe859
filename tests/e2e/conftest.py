"""Fixtures for tests against a real FlexMeasures server.

The server comes from `scripts/flexmeasures-server` (scripts/test starts it);
its `status` prints KEY=value lines with the URL, the login and the demo ids.
"""

from __future__ import annotations

from pathlib import Path
import subprocess

import pytest

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="session")
def fm_server() -> dict[str, str]:
    """URL, login and ids of the running demo server (skip if none runs)."""
    result = subprocess.run(
        [ROOT / "scripts" / "flexmeasures-server", "status"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail("no FlexMeasures server: run scripts/flexmeasures-server start")
    return dict(
        line.split("=", 1) for line in result.stdout.splitlines() if "=" in line
    )
