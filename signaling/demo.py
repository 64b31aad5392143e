"""The demo world of ``directlive serve --dev --demo``: a few people to sign in as.

Everything goes through the ``Fanout`` facade, so the seeded state obeys the product's rules
(a private account's follows are requests until approved; a thread from someone not followed
lands in message requests).
"""

from __future__ import annotations

from fanout import Fanout

DEMO_HOST = "maya"
"""The public host; ``POST /dev/broadcast`` goes live as her by default."""

DEMO_USERS = {
    "maya": "public account; her demo broadcast is shared to all her followers",
    "noah": "private account; approved followers only",
    "alice": "follows maya and noah; in the group 'Weekend plans'",
    "bob": "follows maya and alice; has a message request from noah",
    "carol": "follows maya and bob; her follow request to noah is pending",
}


async def seed_demo(fanout: Fanout) -> None:
    """Idempotent enough for one start-up of a fresh store (re-following is harmless)."""
    for user in DEMO_USERS:
        await fanout.ensure_user(user)
    graph, direct = fanout.graph, fanout.direct
    await graph.update_settings("noah", private=True)
    for follower, followee in [
        ("alice", "maya"),
        ("bob", "maya"),
        ("carol", "maya"),
        ("bob", "alice"),
        ("alice", "bob"),
        ("carol", "bob"),
        ("bob", "carol"),
        ("alice", "noah"),
        ("carol", "noah"),
    ]:
        await graph.follow(follower, followee)
    await graph.approve("noah", "alice")  # carol's request stays pending

    group = await direct.create("alice", ["bob", "carol"], "Weekend plans")
    await direct.send_text("alice", group.thread_id, "Anyone up for the lake on Saturday?")
    await direct.send_text("bob", group.thread_id, "Yes! I'll bring snacks.")
    dm = await direct.create("maya", ["alice"])
    await direct.send_text("maya", dm.thread_id, "Going live at noon, come watch!")
    request = await direct.create("noah", ["bob"])  # bob does not follow noah: a request
    await direct.send_text("noah", request.thread_id, "Hi Bob, I saw your photos. Follow back?")
