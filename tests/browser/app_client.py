"""Drives the web app (``signaling/static``) in Chromium: one browser context per person."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, ViewportSize

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_chromium_whip_whep import end_live
from tests.server import RunningServer, ServerClient, go_live

TOKEN_KEY = "directlive.token"


@dataclass
class Person:
    """One signed-in user's tab."""

    user: str
    context: BrowserContext
    page: Page
    log: list[str] = field(default_factory=list)

    async def goto(self, hash_route: str) -> None:
        await self.page.evaluate("(h) => { location.hash = h; }", hash_route)
        await self.page.wait_for_function(
            "(name) => document.getElementById('dl-main').dataset.page === name",
            arg=hash_route.lstrip("#/").split("/")[0].split("?")[0],
            timeout=5_000,
        )

    async def until(self, expression: str, arg: Any = None, timeout: float = 10) -> Any:
        """Polls ``expression`` (a JS function of ``arg``) until truthy; returns its value."""
        handle = await self.page.wait_for_function(
            expression, arg=arg, polling=50, timeout=timeout * 1000
        )
        return await handle.json_value()

    async def debug(self, key: str) -> Any:
        return await self.evaluate("(k) => window.directliveApp.debug[k]", key)

    async def evaluate(self, expression: str, arg: Any = None, timeout: float = 15) -> Any:
        async with asyncio.timeout(timeout):
            return await self.page.evaluate(expression, arg)

    async def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=ARTIFACTS / name)


DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


async def open_person(
    browser: Browser,
    server: ServerClient,
    user: str,
    viewport: ViewportSize | None = None,
    init_script: str = "",
) -> Person:
    """A fresh context whose app, served by ``server`` (one server, or one node of a cluster),
    is signed in as ``user`` (token in localStorage); ``init_script`` runs before the app."""
    context = await browser.new_context(viewport=viewport or {"width": 1100, "height": 760})
    if init_script:
        await context.add_init_script(init_script)
    context.set_default_timeout(10_000)
    token = server.tokens.mint(user)
    await context.add_init_script(
        f"localStorage.getItem({TOKEN_KEY!r}) || localStorage.setItem({TOKEN_KEY!r}, {token!r});"
    )
    page = await context.new_page()
    person = Person(user, context, page)
    page.on("console", lambda m: person.log.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: person.log.append(f"pageerror: {e}"))
    await page.goto(f"{server.url}/#/inbox")
    await person.until(
        "() => window.directliveApp && window.directliveApp.socket"
        " && window.directliveApp.socket.status === 'open'"
    )
    return person


@asynccontextmanager
async def people(
    browser: Browser,
    server: ServerClient,
    *users: str,
    viewport: ViewportSize | None = None,
    init_script: str = "",
) -> AsyncIterator[list[Person]]:
    opened: list[Person] = []
    try:
        for user in users:
            opened.append(await open_person(browser, server, user, viewport, init_script))
        yield opened
    finally:
        for person in opened:
            try:
                await asyncio.wait_for(person.context.close(), 10)
            finally:
                errors = [line for line in person.log if not line.startswith(("debug", "log"))]
                for line in errors:
                    print(f"[{person.user}] {line}")


async def api(server: ServerClient, user: str, method: str, path: str, body: object = None) -> Any:
    """One social API call as ``user`` (who exists from then on); asserts success."""
    async with server.http.request(
        method, f"{server.url}{path}", headers=server.auth(user), json=body
    ) as response:
        assert response.status < 300, await response.text()
        return await response.json()


@asynccontextmanager
async def aiortc_live(server: RunningServer, host: str) -> AsyncIterator[str]:
    """``host`` is live (an aiortc publisher over WHIP, cheaper than a browser) until exit."""
    live_id, pc = await go_live(server, host)
    try:
        yield live_id
    finally:
        try:
            await end_live(server, host, live_id)
        finally:
            await pc.close()
