"""Headless Debian Chromium driven by Playwright, on a page served by the test server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.server import RunningServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--allow-loopback-in-peer-connection",
]
CLIENT_JS = Path(__file__).parent / "webrtc.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; a missing one fails the test (``make test`` installs it)."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run scripts/system-deps.sh"
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    """A fresh Chromium (Playwright gives it a new temporary profile) per test."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_FLAGS, headless=True, timeout=30_000
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser, server: RunningServer) -> AsyncIterator[Page]:
    """The server's own page, so WHIP/WHEP fetches are same-origin, with webrtc.js loaded."""
    context = await browser.new_context()
    context.set_default_timeout(15_000)
    opened = await context.new_page()
    messages: list[str] = []
    opened.on(
        "console",
        lambda message: messages.append(
            f"{message.type}: {message.text} ({message.location.get('url')})"
        ),
    )
    opened.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
    try:
        response = await opened.goto(f"{server.url}/")
        assert response is not None
        assert response.ok, response.status
        await opened.add_script_tag(path=CLIENT_JS)
        yield opened
    finally:
        try:
            await opened.evaluate("() => window.directlive && window.directlive.close()")
        finally:
            await context.close()
            for line in messages:
                print(f"[chromium] {line}")
