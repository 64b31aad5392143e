"""Watching and sharing lives: privacy, blocks, requests, ended lives, sharing off."""

from __future__ import annotations

import asyncio

import pytest

from directlive.errors import BadRequest, Conflict, Forbidden, NotFound
from fanout import Fanout, Store
from fanout.models import FanoutJob
from tests.fanout.conftest import Audience, Inbox
from tests.fanout.test_events import until


async def refused(fo: Fanout, viewer: str, live_id: str, via: str | None = None) -> str:
    with pytest.raises((Forbidden, Conflict, NotFound)) as err:
        await fo.authorize_watch(viewer, live_id, via_thread=via)
    return err.value.code


async def test_public_live_open_to_all_but_blocked(fo: Fanout) -> None:
    await fo.start_live("alice", "L1")
    assert (await fo.authorize_watch("bob", "L1")).host == "alice"
    await fo.graph.block("carol", "alice")
    assert await refused(fo, "carol", "L1") == "blocked"
    assert await refused(fo, "bob", "nope") == "live_not_found"


async def test_private_live_reshared_to_non_follower_is_refused(fo: Fanout) -> None:
    await fo.graph.update_settings("alice", private=True)
    await fo.graph.follow("bob", "alice")
    await fo.graph.approve("alice", "bob")
    await fo.graph.follow("bob", "carol")
    await fo.graph.follow("carol", "bob")
    await fo.start_live("alice", "L1")
    await fo.authorize_watch("bob", "L1")
    with pytest.raises(Forbidden) as at_share_time:
        await fo.sharing.share("bob", await fo.get_live("L1"), users=["carol"])
    assert at_share_time.value.code == "private_account"
    assert await fo.store.find_dm("bob", "carol") is None, "a refused share writes nothing"
    assert await refused(fo, "carol", "L1") == "private_account"
    assert (await fo.authorize_watch("alice", "L1")).host == "alice"


async def test_blocked_user_cannot_watch_receive_or_send_shares(fo: Fanout) -> None:
    await fo.start_live("alice", "L1")
    await fo.start_live("bob", "L2")
    await fo.graph.block("alice", "bob")
    live1, live2 = await fo.get_live("L1"), await fo.get_live("L2")
    assert await refused(fo, "bob", "L1") == "blocked"
    with pytest.raises(Forbidden) as to_blocked:
        await fo.sharing.share("alice", live1, users=["bob"])
    assert to_blocked.value.code == "blocked"
    with pytest.raises(Forbidden) as from_blocked:
        await fo.sharing.share("bob", live2, users=["alice"])
    assert from_blocked.value.code == "blocked"
    await fo.authorize_watch("carol", "L1")
    with pytest.raises(Forbidden) as reshare:
        await fo.sharing.share("carol", live1, users=["bob"])
    assert reshare.value.code == "blocked"
    assert await fo.store.find_dm("alice", "bob") is None
    assert await fo.store.find_dm("carol", "bob") is None


async def test_share_in_pending_request_needs_accept(fo: Fanout, inbox: Inbox) -> None:
    await fo.start_live("alice", "L1")
    await fo.user_online("bob")
    result = await fo.sharing.share("alice", await fo.get_live("L1"), users=["bob"])
    [thread_id] = result.thread_ids
    assert inbox.types("bob") == ["request.new"]
    assert await refused(fo, "bob", "L1", via=thread_id) == "request_pending"
    await fo.direct.accept("bob", thread_id)
    assert (await fo.authorize_watch("bob", "L1", via_thread=thread_id)).live_id == "L1"
    assert await refused(fo, "carol", "L1", via=thread_id) == "not_member"
    assert await refused(fo, "bob", "L1", via="t_nope") == "thread_not_found"


async def test_share_to_follower_pushes_and_reads_state(fo: Fanout, inbox: Inbox) -> None:
    await fo.graph.follow("bob", "alice")
    await fo.start_live("alice", "L1")
    await fo.user_online("bob")
    result = await fo.sharing.share("alice", await fo.get_live("L1"), users=["bob"])
    [thread_id] = result.thread_ids
    assert inbox.types("bob") == ["message.new", "share.new"]
    assert inbox.events["bob"][1] == {
        "type": "share.new",
        "live_id": "L1",
        "thread_id": thread_id,
        "from": "alice",
    }
    await fo.set_viewer_count("L1", 7)
    [message] = (await fo.store.page_messages(thread_id, "", 10)).items
    assert (message.kind, message.live_id) == ("share", "L1")
    assert (await fo.lives([message.live_id]))["L1"].viewer_count == 7


async def test_ended_live_reads_ended_everywhere(fo: Fanout, inbox: Inbox) -> None:
    await fo.graph.follow("bob", "alice")
    await fo.start_live("alice", "L1")
    await fo.sharing.share("alice", await fo.get_live("L1"), users=["bob", "carol"])
    await fo.user_online("bob")
    await fo.user_online("carol")
    await fo.end_live("L1")
    await fo.end_live("L1")
    assert inbox.events["bob"] == [{"type": "live.ended", "live_id": "L1", "reason": "ended"}]
    assert inbox.events["carol"] == [{"type": "live.ended", "live_id": "L1", "reason": "ended"}]
    assert (await fo.lives(["L1"]))["L1"].state == "ended"
    assert await refused(fo, "bob", "L1") == "live_ended"
    assert await fo.store.running_lives("alice") == []
    with pytest.raises(Conflict) as err:
        await fo.sharing.share("alice", await fo.get_live("L1"), users=["bob"])
    assert err.value.code == "live_ended"


async def test_sharing_off_stops_reshares_not_host(fo: Fanout) -> None:
    await fo.graph.update_settings("alice", allow_sharing=False)
    await fo.start_live("alice", "L1")
    live = await fo.get_live("L1")
    await fo.authorize_watch("bob", "L1")
    with pytest.raises(Forbidden) as err:
        await fo.sharing.share("bob", live, users=["carol"])
    assert err.value.code == "sharing_off"
    assert await fo.store.find_dm("bob", "carol") is None
    assert len((await fo.sharing.share("alice", live, users=["carol"])).thread_ids) == 1
    await fo.graph.update_settings("alice", allow_sharing=True)
    assert len((await fo.sharing.share("bob", live, users=["carol"])).thread_ids) == 1


async def test_reshare_needs_having_watched_or_been_sent(fo: Fanout) -> None:
    await fo.start_live("alice", "L1")
    live = await fo.get_live("L1")
    with pytest.raises(Forbidden) as err:
        await fo.sharing.share("dave", live, users=["carol"])
    assert err.value.code == "not_viewer"
    await fo.authorize_watch("dave", "L1")
    with pytest.raises(Forbidden) as host_only:
        await fo.sharing.share("dave", live, all_followers=True)
    assert host_only.value.code == "not_host"
    with pytest.raises(BadRequest) as none:
        await fo.sharing.share("alice", live)
    assert none.value.code == "no_targets"


async def test_share_to_threads(fo: Fanout) -> None:
    await fo.graph.follow("bob", "alice")
    group = await fo.direct.create("alice", ["bob", "carol"], name="g")
    await fo.start_live("alice", "L1")
    result = await fo.sharing.share("alice", await fo.get_live("L1"), threads=[group.thread_id])
    assert result.thread_ids == (group.thread_id,)
    with pytest.raises(Forbidden) as outsider:
        await fo.sharing.share("dave", await fo.get_live("L1"), threads=[group.thread_id])
    assert outsider.value.code == "not_viewer"
    await fo.authorize_watch("dave", "L1")
    with pytest.raises(Forbidden) as not_member:
        await fo.sharing.share("dave", await fo.get_live("L1"), threads=[group.thread_id])
    assert not_member.value.code == "not_member"
    assert len((await fo.store.page_messages(group.thread_id, "", 10)).items) == 1


async def test_block_mid_live_evicts_viewer(fo: Fanout, audience: Audience) -> None:
    await fo.graph.update_settings("alice", private=False)
    await fo.start_live("alice", "L1")
    await fo.graph.follow("bob", "alice")
    audience.viewers["L1"] = {"bob", "carol"}
    await fo.graph.block("alice", "bob")
    assert audience.evicted == [("L1", "bob", "blocked")]
    await fo.graph.follow("carol", "alice")
    await fo.graph.update_settings("alice", private=True)
    assert audience.viewers["L1"] == {"carol"}
    await fo.graph.remove_follower("alice", "carol")
    assert audience.evicted[-1] == ("L1", "carol", "private_account")


async def test_a_restarted_node_ends_its_lives_and_forgets_its_presence(
    store: Store, inbox: Inbox
) -> None:
    crashed = Fanout(store, node_id="n9")
    await crashed.start()
    other = Fanout(store, node_id="n8")
    other.set_local_delivery(inbox)
    await other.start()
    for node in (crashed, other):
        await node.ensure_user("bob")
    await other.user_online("bob")  # bob's socket is on the node that stays up
    await crashed.user_online("carol")  # carol's socket dies with n9
    await crashed.start_live("alice", "L9")
    await crashed.sharing.share("alice", await crashed.get_live("L9"), users=["bob"])
    await other.start_live("carol", "L8")
    await crashed.close()  # no end_live, no user_offline: the process died

    restarted = Fanout(store, node_id="n9")
    await restarted.start()
    assert (await restarted.get_live("L9")).state == "ended"
    assert (await restarted.get_live("L8")).state == "live", "another node's live is not ours"
    assert await store.node_lives("n9") == []
    assert await store.presence_nodes(["carol", "bob"]) == {"bob": ("n8",)}
    assert await store.node_presence("n9") == []
    ended = {"type": "live.ended", "live_id": "L9", "reason": "server_restarted"}
    await until(lambda: ended in inbox.events["bob"])
    await restarted.close()
    await other.close()


async def test_concurrent_job_creation_makes_one_job_per_live(fo: Fanout) -> None:
    await fo.start_live("alice", "L1")
    jobs = [FanoutJob(f"S{n}", "L1", "alice", seq=n) for n in range(5)]
    created = await asyncio.gather(*(fo.store.create_job(job) for job in jobs))
    share_ids = {job.share_id for job in created}
    assert len(share_ids) == 1, share_ids
    assert (await fo.get_live("L1")).followers_share in share_ids
    [winner] = share_ids
    assert await fo.store.get_job(winner) is not None
    pending = set(await fo.store.pending_jobs())
    assert pending & {job.share_id for job in jobs} == {winner}
