"""One headless Chromium for a whole browser session, launched by Playwright.

    python tests/browser/chromium_server.py PORT CHROMIUM [CHROMIUM_ARG ...]

Launches CHROMIUM as `playwright.chromium.launch` does for a test (the same
switches, headless), with its DevTools endpoint also on 127.0.0.1:PORT, prints
that endpoint's URL once it answers, and keeps the browser until its stdin
closes (or it is terminated). Each test connects to it over CDP
(`connect_over_cdp`) and gets a fresh browser context of its own: no cookies,
storage or cache of an earlier test, in about a tenth of a launch's time.

A separate process, because Playwright's async objects belong to the event loop
that made them, and every test here runs on a loop of its own.
"""

from __future__ import annotations

import asyncio
import sys
import time
import urllib.request

from playwright.async_api import async_playwright


async def main(port: int, chromium: str, args: list[str]) -> None:
    """Launch, say where, wait for stdin to close, close."""
    endpoint = f"http://127.0.0.1:{port}"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium,
            args=[
                *args,
                f"--remote-debugging-port={port}",
                "--remote-debugging-address=127.0.0.1",
            ],
            headless=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                version = f"{endpoint}/json/version"  # http on 127.0.0.1 only
                with urllib.request.urlopen(version, timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        sys.stdout.write(f"{endpoint}\n")
        sys.stdout.flush()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3:]))
