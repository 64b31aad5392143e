"""Photo and video posts sent from the thread's picker show inline for the other member at
the column's width; a like and a comment from one side update both pages without reload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, FilePayload

from tests.browser.app_client import PHONE, Person, api, people
from tests.browser.page_checks import axe_violations
from tests.recorder.media_files import mp4_bytes, png_bytes
from tests.server import RunningServer, running_server, server_config


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


FITS = """(sel) => {
  const media = document.querySelector(sel);
  const column = document.querySelector('[data-testid=messages]').getBoundingClientRect();
  const box = media.getBoundingClientRect();
  return { left: box.left, right: box.right, width: box.width, height: box.height,
           columnLeft: column.left, columnRight: column.right,
           scrollWidth: document.documentElement.scrollWidth, innerWidth };
}"""


async def shows_inline(person: Person, selector: str) -> dict[str, float]:
    box: dict[str, float] = await person.evaluate(FITS, selector)
    assert box["width"] > 50, box
    assert box["left"] >= box["columnLeft"], box
    assert box["right"] <= box["columnRight"], box
    assert box["scrollWidth"] <= box["innerWidth"], box
    return box


async def test_photo_and_video_posts(
    browser: Browser, server: RunningServer, tmp_path: Path
) -> None:
    await api(server, "alice", "GET", "/api/me")
    await api(server, "bob", "POST", "/api/users/alice/follow")
    await api(server, "alice", "POST", "/api/users/bob/follow")
    thread = await api(server, "alice", "POST", "/api/threads", {"members": ["bob"]})
    route = f"#/thread/{thread['thread_id']}"
    photo = png_bytes(1280, 720)
    video = mp4_bytes(tmp_path / "clip.mp4")

    async with people(browser, server, "alice", "bob", viewport=PHONE) as (alice, bob):
        for person in (alice, bob):
            await person.goto(route)
            await person.page.locator(".composer").wait_for()
        attach = alice.page.get_by_test_id("attach")
        await attach.set_input_files(
            files=FilePayload(name="sunset.png", mimeType="image/png", buffer=photo)
        )
        loaded = (
            "() => { const i = document.querySelector('.post-card img');"
            " return i && i.complete && i.naturalWidth; }"
        )
        for person in (alice, bob):
            assert await person.until(loaded) == 1280
        box = await shows_inline(bob, ".post-card img")
        assert box["width"] < 390, box

        await attach.set_input_files(
            files=FilePayload(name="clip.mp4", mimeType="video/mp4", buffer=video)
        )
        for person in (alice, bob):
            await person.page.locator(".post-card video").wait_for()
        await shows_inline(bob, ".post-card video")
        name = await bob.page.locator(".post-card video").get_attribute("aria-label")
        assert name == "alice sent a video"

        # Bob likes and comments on the photo: Alice's page follows, and so does his.
        photo_card = ".post-card:has(img)"
        await bob.page.locator(f"{photo_card} [data-testid=post-like]").click()
        for person in (alice, bob):
            await person.page.locator(
                f"{photo_card} [data-testid=post-likes]", has_text="1 like"
            ).wait_for()
        pressed = bob.page.locator(f"{photo_card} [data-testid=post-like]")
        assert await pressed.get_attribute("aria-pressed") == "true"

        await bob.page.locator(f"{photo_card} [data-testid=post-comment-toggle]").click()
        await bob.page.locator(f"{photo_card} input[name=post-comment]").fill("What a view!")
        await bob.page.locator(f"{photo_card} input[name=post-comment]").press("Enter")
        await alice.page.locator(
            f"{photo_card} [data-testid=post-comments]", has_text="1 comment"
        ).wait_for()
        await alice.page.locator(f"{photo_card} [data-testid=post-comment-toggle]").click()
        await alice.page.locator(
            f"{photo_card} .post-comments li", has_text="What a view!"
        ).wait_for()
        await alice.page.locator(f"{photo_card} input[name=post-comment]").fill("Thanks!")
        await alice.page.locator(f"{photo_card} input[name=post-comment]").press("Enter")
        await bob.page.locator(f"{photo_card} .post-comments li", has_text="Thanks!").wait_for()
        await bob.page.locator(
            f"{photo_card} [data-testid=post-comments]", has_text="2 comments"
        ).wait_for()
        assert await axe_violations(bob) == []
        await bob.screenshot("app-thread-posts-phone.png")
