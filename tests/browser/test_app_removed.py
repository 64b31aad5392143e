"""A refusal that retrying cannot change is final: a viewer removed by the host, reopening
the live, reads one sentence and the app makes no further watch attempt (the page's socket
messages and WHEP requests are counted from an init script)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.app_client import PHONE, Person, aiortc_live, api, people
from tests.browser.page_checks import axe_violations
from tests.browser.test_app_share_watch import plays
from tests.server import RunningServer, running_server, server_config

REMOVED = "The host removed you from this live."
SLOW_DOWN = "Slow down a little, then try again."
COUNT_ATTEMPTS = """
window.__watchAttempts = 0;
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  try { if (JSON.parse(data).type === 'watch') window.__watchAttempts += 1; } catch {}
  return send.call(this, data);
};
const fetch_ = window.fetch;
window.fetch = function (input, init) {
  if (String(input.url || input).includes('/whep/')) window.__watchAttempts += 1;
  return fetch_.call(this, input, init);
};
"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


async def attempts(person: Person) -> int:
    count: int = await person.evaluate("() => window.__watchAttempts")
    return count


async def test_removed_viewer_is_refused_once(browser: Browser, server: RunningServer) -> None:
    await api(server, "alice", "GET", "/api/me")
    await api(server, "bob", "POST", "/api/users/alice/follow")
    async with (
        aiortc_live(server, "alice") as live_id,
        people(browser, server, "bob", viewport=PHONE, init_script=COUNT_ATTEMPTS) as (bob,),
    ):
        await bob.goto(f"#/watch/{live_id}")
        await plays(bob)

        # Past the rate limit (5 comments per fixed 10 s window): said once, the refused text
        # not kept. Six quick comments may straddle a window boundary, so post until refused:
        # eleven within 10 s span at most two windows, so one of them is refused.
        box = bob.page.locator("input[name=comment]")
        slow = bob.page.locator("#dl-notices .notice", has_text=SLOW_DOWN)
        for n in range(11):
            await box.fill(f"comment {n}")
            await box.press("Enter")
            await bob.until(
                "() => [...document.querySelectorAll('[data-testid=comments] li')]"
                f".some(li => li.textContent.includes({json.dumps(f'comment {n}')}))"
                " || [...document.querySelectorAll('#dl-notices .notice')]"
                f".some(notice => notice.textContent.includes({json.dumps(SLOW_DOWN)}))"
            )
            if await slow.count():
                break
        await slow.wait_for()
        await bob.until("() => document.querySelector('input[name=comment]').value === ''")
        assert await slow.count() == 1

        host = await server.socket("alice")
        try:
            off = {"type": "live.settings", "live_id": live_id, "comments": False}
            assert (await host.request(off))["comments"] is False
            # Comments off: nothing to type into, nothing to send.
            await bob.until(
                "() => document.querySelector('input[name=comment]').disabled"
                " && document.querySelector('.comments-panel button[type=submit]').disabled"
            )
            reply = await host.request({"type": "viewer.remove", "live_id": live_id, "user": "bob"})
            assert reply["type"] != "error", reply
        finally:
            await host.close()
        banner = bob.page.get_by_test_id("watch-banner")
        await bob.page.locator("[data-testid=watch-banner]", has_text=REMOVED).wait_for()

        await bob.goto("#/inbox")
        assert await slow.count() == 0, "a notice belongs to the page it came from"
        before = await attempts(bob)
        await bob.goto(f"#/watch/{live_id}")
        await bob.page.locator("[data-testid=watch-banner]", has_text=REMOVED).wait_for()
        watch = await bob.debug("watch")
        assert watch["state"] == "refused", watch
        assert watch["refusal"] == "removed_by_host", watch
        # A retry would come within the first backoff (0.5-1 s): wait well past it.
        await asyncio.sleep(3)
        assert await attempts(bob) - before == 1
        assert await banner.text_content() == REMOVED
        notices = await bob.page.locator("#dl-notices .notice").all_text_contents()
        assert REMOVED not in " ".join(notices), notices
        assert (await bob.debug("watch"))["tiles"] == []
        assert await axe_violations(bob) == []
        await bob.screenshot("app-watch-removed-phone.png")
