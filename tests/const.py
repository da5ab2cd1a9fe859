"""Constants of the tests: the toy account, as both mocked servers answer for it.

The fake FlexMeasures server (tests/fake_flexmeasures.py), the answers registered
on aioclient_mock (tests/conftest.py) and the config entries (tests/common.py)
all use these, so a login, a title or an id is written down once.
"""

from __future__ import annotations

# The server, as FlexMeasures 1.0.1 answers `GET /api/`.
FM_URL = "http://127.0.0.1:5000"
FM_VERSION = "1.0.1"
API_VERSION = "v3_0"
API_ROOT_MESSAGE = "For these API versions a public endpoint is available."
WRONG_PASSWORD_ERROR = "User password does not match."

# The toy user and account (the demo server's seed).
TOY_EMAIL = "toy-user@flexmeasures.io"
TOY_PASSWORD = "toy-password"
TOY_USERNAME = "toy-user"
TOY_USER_ID = 1
TOY_ACCOUNT_ID = 1
TOY_ACCOUNT_NAME = "Toy Account"
TOY_TIMEZONE = "Europe/Amsterdam"
OTHER_ACCOUNT_ID = 2
# Assets and sensors of the seed (the fake's ids; the real server's come from
# `scripts/flexmeasures-server status`): below the building, the battery and the
# EV charger, each with a kW PT15M power sensor. The EV charger's ids are the
# demo server's (as in tests/fixtures/site_schedule); tests add ad-hoc sensors
# as 11 and 20-24.
TOY_BUILDING_ASSET_ID = 5
TOY_BATTERY_ASSET_ID = 6
TOY_BATTERY_SENSOR_ID = 8
TOY_EV_ASSET_ID = 9
TOY_EV_SENSOR_ID = 15
OTHER_ACCOUNT_NAME = "Other Account"

# Tokens: the one aioclient_mock hands out, and how the fake server's begin.
FM_TOKEN = "eyJ2ZXIiOiI1IiwidWlkIjoiZmFrZS10b2tlbiJ9.fake.SECRET-TOKEN"
FAKE_TOKEN_PREFIX = "eyJ-fake-token"

# The account's config entry (a fixed id, so snapshots and storage keys are stable).
ENTRY_ID = "01JFLEXMEASURESTOYACCOUNT0"
