"""The app as a phone user sees it (390x844) and on a desktop (1280x800): no sideways
scrolling, a compact top bar, full-screen portrait lives whose controls are on screen, the
thread's composer on screen, and no serious accessibility violation (axe-core)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from tests.browser.app_client import DESKTOP, PHONE, Person, api, people
from tests.browser.page_checks import assert_fits, assert_inside, axe_violations, geometry
from tests.browser.test_app_share_watch import go_live, plays, share_to
from tests.server import RunningServer, running_server, server_config


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


async def check_page(person: Person, name: str, **selectors: str) -> dict[str, Any]:
    """Geometry that must hold at any size, an axe pass, and a screenshot."""
    g = await geometry(person, **selectors)
    assert_fits(g)
    violations = await axe_violations(person)
    assert violations == [], f"{name}: {violations}"
    size = "phone" if g["innerWidth"] < 600 else "desktop"
    await person.screenshot(f"app-{name}-{size}.png")
    return g


async def test_pages_fit_a_phone_and_a_desktop(browser: Browser, server: RunningServer) -> None:
    await api(server, "alice", "GET", "/api/me")
    await api(server, "bob", "POST", "/api/users/alice/follow")
    thread = await api(server, "alice", "POST", "/api/threads", {"members": ["bob"]})
    thread_id = thread["thread_id"]
    for text in ("Are you coming tonight?", "Going live in a minute!"):
        await api(server, "alice", "POST", f"/api/threads/{thread_id}/messages", {"text": text})
    await api(server, "bob", "POST", f"/api/threads/{thread_id}/messages", {"text": "Yes!"})

    async with people(browser, server, "alice", "bob", viewport=PHONE) as (alice, bob):
        for viewport in (PHONE, DESKTOP):
            for person in (alice, bob):
                await person.page.set_viewport_size(viewport)
            await bob.goto("#/inbox")
            await bob.page.locator("[data-testid=threads] .thread-row").first.wait_for()
            await check_page(bob, "inbox", tabs="#dl-nav")

            await bob.goto(f"#/thread/{thread_id}")
            await bob.page.locator(".message", has_text="Going live").wait_for()
            g = await check_page(bob, "thread", composer=".composer", send="[data-testid=send]")
            assert_inside(g, "composer")
            assert_inside(g, "send")

            await bob.goto("#/profile")
            await bob.page.locator(".profile h2").first.wait_for()
            await check_page(bob, "profile")

            await alice.goto("#/inbox")  # from the last round's end screen
            live_id = await go_live(alice)
            g = await check_page(alice, "host", end="[data-testid=end-live]")
            assert g["video"] >= 0.7 * g["innerHeight"], g
            assert_inside(g, "end")

            await alice.page.get_by_test_id("live-menu").click()
            sheet = alice.page.get_by_role("dialog", name="Live settings and people")
            await sheet.get_by_text("Nobody is watching yet").wait_for()
            await check_page(alice, "host-sheet")
            await sheet.get_by_role("button", name="Close").click()

            await share_to(alice, "bob")
            await bob.goto(f"#/watch/{live_id}?thread={thread_id}")
            await plays(bob)
            g = await check_page(
                bob, "watch", comment="input[name=comment]", leave="[data-testid=leave]"
            )
            assert g["video"] >= 0.7 * g["innerHeight"], g
            assert_inside(g, "comment")
            assert_inside(g, "leave")

            await alice.page.get_by_test_id("end-live").click()
            await bob.page.get_by_test_id("watch-banner").wait_for()
            await alice.page.get_by_test_id("end-summary").wait_for()
            await check_page(alice, "host-ended")
