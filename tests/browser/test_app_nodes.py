"""The web app in real Chromium across three real nodes on one Redis: the host goes live from
node ``a`` (camera, three layers) and shares it; friends on nodes ``b`` and ``c`` watch from
the share cards in their inboxes and comment, every page shows the comments in one order and
the count of both nodes' viewers, a heart from ``c`` floats on ``a`` and ``b``, the host
removes the viewer on ``c``, and the end reaches ``b``'s watch page and the share card in
``c``'s thread."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.app_client import Person, api, people
from tests.browser.test_app_layers import layer_widths
from tests.browser.test_app_share_watch import go_live, plays, share_to
from tests.cluster.nodes import Cluster, running_cluster
from tests.cluster.relay_support import metrics

LINKS = "directlive_relay_links_open"
REMOVED = "The host removed you from this live."
COMMENTS = (
    "() => [...document.querySelectorAll('[data-testid=comments] li')].map((li) => li.textContent)"
)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path) as running:
        yield running


async def frames_decoded(person: Person) -> int:
    stats = (await person.debug("watch"))["stats"]
    return int(stats["framesDecoded"]) if stats else 0


async def watch_from_inbox(person: Person, live_id: str) -> None:
    """Open the thread with the host from the inbox and tap the live's share card."""
    row = person.page.locator("[data-testid=threads] .thread-row", has_text="alice")
    await row.wait_for()
    await row.locator("a").click()
    card = person.page.locator(f".share-card[data-live-id='{live_id}']")
    await card.get_by_test_id("watch-share").click()


async def type_comment(person: Person, text: str) -> None:
    await person.page.locator(".comments-panel input[name=comment]").fill(text)
    await person.page.locator(".comments-panel button[type=submit]").click()


async def shows_comments(person: Person, texts: list[str]) -> list[str]:
    """Wait until every text is on ``person``'s page; the page's comments in order."""
    for text in texts:
        await person.page.locator("[data-testid=comments] li", has_text=text).wait_for()
    shown: list[str] = await person.evaluate(COMMENTS)
    return [next(t for t in texts if t in line) for line in shown if any(t in line for t in texts)]


async def test_host_on_a_viewer_on_b_comments_from_c_and_the_end(
    browser: Browser, cluster: Cluster
) -> None:
    a, b, c = cluster["a"], cluster["b"], cluster["c"]
    await api(a, "alice", "GET", "/api/me")
    await api(b, "bob", "POST", "/api/users/alice/follow")
    await api(c, "carol", "POST", "/api/users/alice/follow")
    async with (
        people(browser, a, "alice") as (alice,),
        people(browser, b, "bob") as (bob,),
        people(browser, c, "carol") as (carol,),
    ):
        live_id = await go_live(alice)
        widths = await layer_widths(alice)
        assert widths == [640, 320, 160]

        # Bob, on b, watches from the share card that reached his inbox.
        await share_to(alice, "bob")
        started = time.monotonic()
        await watch_from_inbox(bob, live_id)
        await plays(bob)
        first_picture = time.monotonic() - started
        watching = await bob.debug("watch")
        (tile,) = [t for t in watching["tiles"] if not t["local"]]
        assert tile["user"] == "alice"
        assert tile["videoWidth"] == 640, watching  # the best layer: what a relay carries
        assert watching["stats"]["audioPackets"] > 0, watching
        decoded_before = await frames_decoded(bob)

        # Carol, on c, watches from her share card too and comments; Bob comments too.
        await share_to(alice, "carol")
        await watch_from_inbox(carol, live_id)
        await plays(carol)
        texts = ["carol one", "bob one", "carol two", "carol three"]
        await type_comment(carol, texts[0])
        await type_comment(bob, texts[1])
        await type_comment(carol, texts[2])
        await type_comment(carol, texts[3])
        orders = {p.user: await shows_comments(p, texts) for p in (alice, bob, carol)}
        assert orders["bob"] == orders["alice"] == orders["carol"], orders
        assert sorted(orders["alice"]) == sorted(texts)
        carol_order = [t for t in orders["alice"] if t.startswith("carol")]
        assert carol_order == ["carol one", "carol two", "carol three"]
        for person in (alice, bob, carol):
            await person.until(
                "() => document.querySelector('[data-testid=viewer-count]').textContent"
                " === '2 watching'"
            )
        await carol.page.locator(".comments-panel button.like").click()
        for person in (alice, bob):
            await person.page.locator(".float-heart").first.wait_for()
        assert (await metrics(a))[LINKS] == 2
        decoded_after = await frames_decoded(bob)
        assert decoded_after > decoded_before, (decoded_before, decoded_after)

        # The host, on a, removes Carol (on c) from the people watching; Carol's page says so
        # and she goes back to her thread.
        await alice.page.get_by_test_id("live-menu").click()
        row = alice.page.locator("[data-testid=viewers] li", has_text="carol")
        await row.get_by_role("button", name="Remove").click()
        await carol.page.locator("[data-testid=watch-banner]", has_text=REMOVED).wait_for()
        await row.wait_for(state="detached")
        await alice.page.get_by_role("dialog").get_by_role("button", name="Close").click()
        await carol.page.get_by_test_id("leave").click()

        # The host ends the live on a; Bob's page on b says it is over, and so does the share
        # card in Carol's thread on c.
        card = carol.page.locator(f".share-card[data-live-id='{live_id}']")
        await card.get_by_test_id("watch-share").wait_for()
        ended_at = time.monotonic()
        await alice.page.get_by_test_id("end-live").click()
        banner = bob.page.get_by_test_id("watch-banner")
        await banner.wait_for()
        shown_after = time.monotonic() - ended_at
        assert await banner.text_content() == "The video is over."
        assert (await bob.debug("watch"))["state"] == "ended"
        await card.get_by_test_id("video-over").wait_for(timeout=2_000)
        print(
            f"layers {widths}; b's first picture {first_picture:.2f} s after the click,"
            f" {decoded_after} frames decoded at {tile['videoWidth']} wide;"
            f" the end shown on b {1000 * shown_after:.0f} ms after End"
        )
