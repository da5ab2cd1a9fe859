"""Constants for the FlexMeasures integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "flexmeasures"
LOGGER = logging.getLogger(__package__)

# The FlexMeasures API version this integration speaks.
API_VERSION: Final = "v3_0"
DEFAULT_VERIFY_SSL: Final = True

MANUFACTURER: Final = "FlexMeasures"
# FlexMeasures' sign convention of powers: charging (consumption) > 0.
SIGN_CONVENTION: Final = "consumption_positive"
# The attributes (of entities, in action answers) that carry it and a plan.
ATTR_SIGN_CONVENTION: Final = "sign_convention"
ATTR_SCHEDULE: Final = "schedule"
SERVER_MODEL: Final = "FlexMeasures server"

# Schedule subentry (subentry_type "schedule") data keys and defaults.
SUBENTRY_TYPE_SCHEDULE: Final = "schedule"
CONF_POWER_SENSOR: Final = "power_sensor"
CONF_CONSUMPTION_PRICE_SENSOR: Final = "consumption_price_sensor"
CONF_PRODUCTION_PRICE_SENSOR: Final = "production_price_sensor"
CONF_SOC_ENTITY: Final = "soc_entity"
CONF_CAPACITY: Final = "capacity"
CONF_SOC_MIN: Final = "soc_min"
CONF_SOC_MAX: Final = "soc_max"
CONF_ROUNDTRIP_EFFICIENCY: Final = "roundtrip_efficiency"
CONF_POWER_CAPACITY: Final = "power_capacity"
CONF_DURATION: Final = "duration"
CONF_UPDATE_INTERVAL: Final = "update_interval"
DEFAULT_DURATION: Final = 24  # hours
DEFAULT_UPDATE_INTERVAL: Final = 15  # minutes

# Measurement subentry (subentry_type "measurement") data keys.
SUBENTRY_TYPE_MEASUREMENT: Final = "measurement"
CONF_ENTITY_ID: Final = "entity_id"
CONF_SENSOR: Final = "sensor"
CONF_FORECAST_ATTRIBUTE: Final = "forecast_attribute"

# Site subentry (subentry_type "site") data keys: several schedule devices below
# one asset, planned in one job.
SUBENTRY_TYPE_SITE: Final = "site"
CONF_ASSET: Final = "asset"
CONF_DEVICES: Final = "devices"
CONF_SITE_POWER_CAPACITY: Final = "site_power_capacity"
