"""Loopback proxies in front of the real FlexMeasures server (redirects, outages).

`LoopbackProxy` forwards every request to the real server and records it, body
included. With `redirect_login_to` it answers the login
(`POST /api/requestAuthToken`) with a 307 to that URL instead: a 307 keeps the
method and the body, so a client that followed it would post the email and
password to the target, which forwards them to the real server and would get
a token. The target's record shows whether anything (the password) arrived.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from tests.fake_flexmeasures import serve

LOGIN_PATH = "/api/requestAuthToken"
# Hop-by-hop and length headers are the proxy's own business.
_SKIP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass
class LoopbackProxy:
    """Forward to `upstream` and record; optionally redirect the login."""

    upstream: str
    redirect_login_to: str | None = None
    # while True, answer as a reverse proxy does when the server is down
    cut: bool = False
    url: str = ""
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    _session: aiohttp.ClientSession | None = None

    def make_app(self) -> web.Application:
        """The proxy app."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.method, request.path, body))
        if self.cut:
            return web.Response(
                status=502,
                text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                content_type="text/html",
            )
        if self.redirect_login_to is not None and request.path == LOGIN_PATH:
            return web.Response(
                status=307, headers={"Location": self.redirect_login_to}
            )
        assert self._session is not None
        headers = {
            key: value
            for key, value in request.headers.items()
            if key.lower() not in _SKIP_HEADERS
        }
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            data=body,
            headers=headers,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            return web.Response(
                status=upstream.status,
                body=payload,
                content_type=upstream.content_type,
            )

    def bodies(self) -> list[bytes]:
        """Every request body that arrived here."""
        return [body for _, _, body in self.requests]


@asynccontextmanager
async def running(proxy: LoopbackProxy) -> AsyncIterator[LoopbackProxy]:
    """Run `proxy` on 127.0.0.1 (its `url` set) until the block ends."""
    async with aiohttp.ClientSession() as session, serve(proxy.make_app()) as url:
        proxy._session = session
        proxy.url = url
        yield proxy


@asynccontextmanager
async def redirected_login(upstream: str) -> AsyncIterator[tuple[str, LoopbackProxy]]:
    """A server whose login answers 307 to a recording proxy of the real server.

    Yields the redirecting server's URL and the target (whose `requests` must
    stay empty).
    """
    async with running(LoopbackProxy(upstream)) as target:
        redirector = LoopbackProxy(upstream, redirect_login_to=target.url + LOGIN_PATH)
        async with running(redirector):
            yield redirector.url, target
