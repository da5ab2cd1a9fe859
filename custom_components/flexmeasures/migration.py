"""Bringing config entries of older versions of the integration up to date."""

from __future__ import annotations

import re

from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant

from .api import normalise_url
from .const import DOMAIN, LOGGER
from .data import FlexMeasuresConfigEntry


async def async_migrate_entry(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry
) -> bool:
    """Bring an entry from an older version of the integration up to date.

    1.1 -> 1.2: the URL is normalised (`normalise_url`: case, default ports,
    trailing slash) and loses any user info (`https://user:secret@host`), and
    the unique id follows it, so that one login is one entry however its URL
    was typed. A unique id already taken by another entry of the same login is
    kept (without user info) rather than duplicated.
    """
    if entry.version > 1:
        return False  # a downgrade: this code does not know the newer data
    if entry.minor_version < 2:
        data = dict(entry.data)
        unique_id = entry.unique_id
        try:
            data[CONF_URL] = normalise_url(data[CONF_URL], drop_user_info=True)
        except ValueError:
            # Unusable (setup will say so), but no secret stays in it either.
            data[CONF_URL] = _USER_INFO.sub("", str(data[CONF_URL]))
            if unique_id is not None:
                unique_id = _USER_INFO.sub("", unique_id)
            LOGGER.warning(
                "The server URL of FlexMeasures entry %s is not usable; "
                "reconfigure the entry",
                entry.title,
            )
        else:
            unique_id = _migrated_unique_id(hass, entry, data[CONF_URL])
        hass.config_entries.async_update_entry(
            entry, data=data, unique_id=unique_id, minor_version=2
        )
    return True


def _migrated_unique_id(
    hass: HomeAssistant, entry: FlexMeasuresConfigEntry, url: str
) -> str | None:
    """The unique id for the normalised URL: `<url>_<user id>`.

    If another entry already has it (the same login added twice under two
    spellings), this entry keeps its old id with only the user info removed.
    """
    old = entry.unique_id
    if old is None:
        return None
    prefix, _, user_id = old.rpartition("_")
    if not prefix or not user_id.isdigit():
        return _USER_INFO.sub("", old)
    new = f"{url}_{user_id}"
    other = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, new)
    if other is not None and other.entry_id != entry.entry_id:
        LOGGER.warning(
            "FlexMeasures entries %s and %s are the same login; remove one",
            other.title,
            entry.title,
        )
        return _USER_INFO.sub("", old)
    return new


# User info in a URL: what lies between "://" and the host's "@".
_USER_INFO = re.compile(r"(?<=://)[^/?#]*@")
