"""Server URLs: one spelling per server, and never a password inside one.

`normalise_url` gives every way of writing a server's base URL one form, so
that `https://FM.Example.com:443/` and `https://fm.example.com` are the same
server (one config entry, one unique id), and refuses user info in the URL
(`https://user:secret@host`): the FlexMeasures login goes in the JSON body, and
a secret in the URL would end up in logs, unique ids and diagnostics.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import SplitResult, urljoin, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# RFC 3986 2.3: unreserved characters, which a percent-escape need not hide
_UNRESERVED = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)


def _normal_escape(match: re.Match[str]) -> str:
    """RFC 3986 6.2.2: an unreserved character as itself, other escapes upper-case."""
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else f"%{match.group(1).upper()}"


def _ascii_host(host: str) -> str:
    """An internationalised host name as its IDNA (punycode) form."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as err:
        raise ValueError("Not a valid host name") from err


class UrlHasCredentialsError(ValueError):
    """The URL carries user info (`user:password@`); it is never kept.

    The message does not repeat the URL (nor the secret in it).
    """

    def __init__(self) -> None:
        """Say what is wrong without echoing the URL."""
        super().__init__(
            "The URL contains a user name or password; give the FlexMeasures "
            "login separately"
        )


class _Parts(NamedTuple):
    scheme: str
    netloc: str  # lower-case host (IPv6 in brackets), port only when not default
    path: str
    has_user_info: bool


def _parts(url: str) -> _Parts:
    """Split and check an http(s) URL; ValueError (without the URL) if unusable."""
    try:
        parts: SplitResult = urlsplit(url.strip())
        port = parts.port
    except ValueError as err:
        raise ValueError("Not a valid URL (host or port)") from err
    scheme = parts.scheme.lower()
    host = parts.hostname  # lower-cased, IPv6 without brackets
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError("Not an http(s) URL with a host name")
    host = f"[{host}]" if ":" in host else _ascii_host(host)
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    has_user_info = "@" in parts.netloc
    path = _PERCENT_ESCAPE.sub(_normal_escape, parts.path)
    return _Parts(scheme, netloc, path, has_user_info)


def normalise_url(url: str, *, drop_user_info: bool = False) -> str:
    """The one spelling of a server's base URL.

    Scheme and host lower-cased (an internationalised host in its IDNA form),
    the default port dropped (http 80, https 443), no trailing slash, path
    prefix kept as written (paths are case-sensitive) but for percent-escapes
    in their normal form (RFC 3986 6.2.2), query and fragment dropped:
    `HTTPS://FM.Example.com:443/prefix/` -> `https://fm.example.com/prefix`.

    Raises UrlHasCredentialsError (a ValueError) for a URL with user info,
    unless `drop_user_info` (for migrating stored URLs: the user info is
    removed); ValueError for anything that is not an http(s) URL with a host
    and a valid port. No message repeats the URL.
    """
    parts = _parts(url)
    if parts.has_user_info and not drop_user_info:
        raise UrlHasCredentialsError
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def redirect_target(request_url: str, location: str | None) -> str | None:
    """Where a redirect points: absolute, normalised, without user info or query.

    None when there is no usable http(s) target. The path is kept as sent.
    """
    if location is None:
        return None
    try:
        parts = _parts(urljoin(request_url, location.strip()))
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def redirected_base_url(target: str | None, requested_path: str) -> str | None:
    """The base URL a redirect target stands for, when it is the requested path.

    E.g. `https://fm.example.com/api/` for a request of `/api/` gives
    `https://fm.example.com`; a target elsewhere gives None.
    """
    if target is None:
        return None
    parts = _parts(target)
    wanted = requested_path.rstrip("/")
    path = parts.path.rstrip("/")
    if not wanted or not path.endswith(wanted):
        return None
    return normalise_url(f"{parts.scheme}://{parts.netloc}{path.removesuffix(wanted)}")
