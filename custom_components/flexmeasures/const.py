"""Constants for the FlexMeasures integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "flexmeasures"
LOGGER = logging.getLogger(__package__)
