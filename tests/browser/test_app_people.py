"""The people picker (search by id among follows and followers, or type any id) starts a
conversation; the recipient's message request offers Accept, Delete and Block; sign-in,
requests and settings pass axe-core too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.app_client import PHONE, api, people
from tests.browser.page_checks import assert_fits, axe_violations, geometry
from tests.server import RunningServer, running_server, server_config


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(server_config(tmp_path, dev=True)) as running:
        yield running


async def test_people_picker_and_requests(browser: Browser, server: RunningServer) -> None:
    for user in ("bob", "dave"):
        await api(server, user, "GET", "/api/me")
    await api(server, "alice", "POST", "/api/users/bob/follow")
    await api(server, "carol", "POST", "/api/users/alice/follow")
    async with people(browser, server, "alice", "dave", viewport=PHONE) as (alice, dave):
        await alice.page.get_by_test_id("new-message-open").click()
        listed = alice.page.locator("[data-testid=people-list] label[data-user]")
        await listed.first.wait_for()
        assert await listed.evaluate_all("(ls) => ls.map((l) => l.dataset.user)") == [
            "bob",
            "carol",
        ]
        search = alice.page.get_by_test_id("people-search")
        await search.fill("ca")
        assert await listed.evaluate_all("(ls) => ls.map((l) => l.dataset.user)") == ["carol"]
        await alice.page.get_by_label("carol").check()
        await search.fill("dave")  # not in her lists: typed whole, still offered
        await alice.page.get_by_label("dave").check()
        chosen = await alice.page.get_by_test_id("people-chosen").inner_text()
        assert chosen.split() == ["carol", "dave"]
        assert await axe_violations(alice) == []
        await alice.screenshot("app-new-message-phone.png")
        await alice.page.get_by_test_id("new-message-start").click()
        await alice.page.locator(".thread-head h1", has_text="carol, dave").wait_for()
        thread = await alice.debug("thread")
        assert sorted(thread["members"]) == ["alice", "carol", "dave"]
        await alice.page.get_by_label("Message", exact=True).fill("Welcome!")
        await alice.page.get_by_test_id("send").click()
        await alice.page.locator(".message.mine", has_text="Welcome!").wait_for()

        await alice.goto("#/profile/dave")
        await alice.page.get_by_test_id("follow").wait_for()
        assert await axe_violations(alice) == []
        await alice.page.get_by_test_id("follow").click()
        await alice.page.get_by_test_id("unfollow").wait_for()

        # Dave doesn't follow Alice: a message request, with Accept, Delete and Block.
        await dave.goto("#/requests")
        row = dave.page.locator("[data-testid=requests] .thread-row")
        await row.first.wait_for()
        assert await axe_violations(dave) == []
        await dave.screenshot("app-requests-phone.png")
        await row.first.locator("a.thread-link").click()
        bar = dave.page.get_by_test_id("request-bar")
        await bar.get_by_role("button", name="Accept").wait_for()
        assert await bar.get_by_role("button", name="Delete").count() == 1
        text = await bar.text_content() or ""
        assert " wants to send you messages" in text, text
        assert_fits(await geometry(dave))
        assert await axe_violations(dave) == []

        await dave.goto("#/settings")
        await dave.page.get_by_role("button", name="Sign out").wait_for()
        assert await axe_violations(dave) == []
        await dave.page.get_by_role("button", name="Sign out").click()
        await dave.page.get_by_test_id("user-picker").wait_for()
        assert await axe_violations(dave) == []
        await dave.screenshot("app-signin-phone.png")
