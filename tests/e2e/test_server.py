"""The real FlexMeasures server answers as the integration expects."""

from __future__ import annotations

import aiohttp
import pytest


@pytest.mark.usefixtures("socket_enabled")
async def test_login_and_version(fm_server: dict[str, str]) -> None:
    """The demo user gets a token, and the server reports its version."""
    url = fm_server["FLEXMEASURES_URL"]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/api/") as resp:
            info = await resp.json()
        assert resp.status == 200
        assert info["flexmeasures_version"] == "1.0.1"
        assert "v3_0" in info["versions"]
        async with session.post(
            f"{url}/api/requestAuthToken",
            json={
                "email": fm_server["FLEXMEASURES_EMAIL"],
                "password": fm_server["FLEXMEASURES_PASSWORD"],
            },
        ) as resp:
            body = await resp.json()
        assert resp.status == 200
        assert body["auth_token"]
