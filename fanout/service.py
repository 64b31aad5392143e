"""``Fanout``: the facade of the social plane, the one object signaling holds.

It wires the store, the event hub and the services, and offers the media plane what it asks:
users, lives, watch checks, presence, local delivery and eviction of viewers who lost access.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from directlive.errors import DirectliveError, Forbidden, NotFound
from fanout import policy
from fanout.direct import Direct
from fanout.events import EventHub, LiveAudience
from fanout.follower_fanout import FollowerFanout
from fanout.graph import SocialGraph
from fanout.live_room import LiveRooms
from fanout.message_render import MessageRenderer
from fanout.models import FanoutConfig, FeedEntry, LiveInfo, Page, Profile
from fanout.node_directory import NodeDirectory, directory_for
from fanout.redis_store import RedisStore
from fanout.room_delivery import MemoryRoomDelivery, RoomDelivery
from fanout.room_delivery_redis import RedisRoomDelivery
from fanout.room_models import RoomConfig
from fanout.room_redis import RedisRoomStore
from fanout.room_store import MemoryRoomStore, RoomStore
from fanout.sharing import Sharing
from fanout.store import Store

log = logging.getLogger(__name__)

USER_CACHE_LIMIT = 100_000


class Fanout:
    def __init__(
        self,
        store: Store,
        *,
        node_id: str,
        config: FanoutConfig | None = None,
        room_config: RoomConfig | None = None,
    ) -> None:
        self.store = store
        self.node_id = node_id
        self.config = config or FanoutConfig()
        self.hub = EventHub(store, node_id, self._still_allowed)
        self.graph = SocialGraph(store, self.hub, self._recheck_hosts)
        self.renderer = MessageRenderer(store, self.lives)
        self.direct = Direct(store, self.hub, self.config, self.renderer)
        self.followers = FollowerFanout(store, self.hub, node_id, self.config)
        self.sharing = Sharing(store, self.direct, self.followers)
        self.rooms = LiveRooms(
            self,
            _room_store_for(store),
            room_config or RoomConfig(),
            _room_delivery_for(store, node_id),
        )
        self._known_users: set[str] = set()
        self.directory: NodeDirectory = directory_for(store)
        """Nodes, the origin of each live and the nodes relaying it."""

    async def start(self) -> None:
        """Forget the presence and end the lives this node left behind when it stopped (its
        sockets and media died with it), subscribe to the event bus, and resume unfinished
        shares to all followers."""
        for user in await self.store.node_presence(self.node_id):
            await self.store.presence_remove(user, self.node_id)  # sockets died with the node
        await self.hub.start()
        await self.followers.resume_pending()
        for live_id in await self.store.node_lives(self.node_id):
            log.info("ending live=%s left running by this node before its restart", live_id)
            await self.end_live(live_id, reason="server_restarted")
            await self.store.mark_node_live(self.node_id, live_id, running=False)

    async def close(self) -> None:
        await self.followers.close()
        await self.hub.close()
        await self.rooms.delivery.close()
        await self.rooms.store.close()

    # -- users -------------------------------------------------------------------------------
    async def ensure_user(self, user: str) -> None:
        if user in self._known_users:
            return
        await self.store.ensure_user(user)
        if len(self._known_users) >= USER_CACHE_LIMIT:
            self._known_users.clear()
        self._known_users.add(user)

    # -- lives -------------------------------------------------------------------------------
    async def start_live(self, host: str, live_id: str) -> LiveInfo:
        await self.ensure_user(host)
        live = LiveInfo(live_id, host, started_at=time.time())
        await self.store.put_live(live)
        await self.store.mark_node_live(self.node_id, live_id, running=True)
        await self.directory.set_origin(live_id, self.node_id)
        await self.rooms.delivery.open_live(live_id, host)
        return live

    async def get_live(self, live_id: str) -> LiveInfo:
        live = await self.store.get_live(live_id)
        if live is None:
            raise NotFound(f"no such live: {live_id}", code="live_not_found")
        return self._counted(live)

    def _counted(self, live: LiveInfo) -> LiveInfo:
        """The viewer count: the media plane's own when the live's media is on this node (the
        store's copy is refreshed about once a second, for the other nodes)."""
        if live.ended:
            return live
        local = self.hub.local_viewer_count(live.live_id)
        return live if local is None else replace(live, viewer_count=local)

    async def visible_live(self, viewer: str, live_id: str) -> LiveInfo:
        """The live's card for ``viewer`` (NotFound if blocked from it, like a missing live)."""
        live = await self.get_live(live_id)
        await policy.may_see_live(self.store, viewer, live)
        return live

    async def end_live(
        self, live_id: str, *, reason: str = "ended", also_notify: Iterable[str] = ()
    ) -> None:
        """Mark ended (idempotent) and push one ``live.ended`` to each online user it reached:
        share recipients, guests, ``also_notify`` (the host and viewers), and the host's
        followers when it was shared to all of them."""
        live = await self.get_live(live_id)
        await self.store.mark_node_live(self.node_id, live_id, running=False)
        await self.directory.forget_live(live_id)
        if not await self.store.end_live(live_id, time.time()):
            return
        await self.rooms.delivery.close_live(live_id)
        event = {"type": "live.ended", "live_id": live_id, "reason": reason}
        told = set([*await self.store.reach(live_id), *live.guests, *also_notify])
        await self.hub.emit(told, event)
        if live.followers_share:
            cursor = ""
            while True:
                page = await self.store.page_users(live.host, "followers", cursor, 1000)
                await self.hub.emit([user for user in page.items if user not in told], event)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor

    async def set_viewer_count(self, live_id: str, count: int) -> None:
        await self.store.set_viewer_count(live_id, max(0, count))

    async def set_guests(self, live_id: str, guests: Sequence[str]) -> None:
        """Co-broadcasters now on the live: they may watch it, and their blocks apply to it."""
        await self.get_live(live_id)
        await self.store.set_guests(live_id, guests)
        await self.hub.recheck([live_id])

    async def authorize_watch(
        self, viewer: str, live_id: str, via_thread: str | None = None
    ) -> LiveInfo:
        live = await self.get_live(live_id)
        await policy.may_watch(self.store, viewer, live, via_thread)
        await self.rooms.ensure_may_watch(viewer, live_id)
        if viewer != live.host:
            await self.store.add_reach(live_id, [viewer])
        return live

    async def authorize_read(self, viewer: str, live_id: str) -> LiveInfo:
        """May ``viewer`` see what happened in this live (its comments), running or ended:
        the watch rules (privacy, blocks, bans) without the ended one, and not counted as
        reach."""
        live = await self.get_live(live_id)
        await policy.may_watch(self.store, viewer, replace(live, ended=False))
        await self.rooms.ensure_may_watch(viewer, live_id)
        return live

    async def authorize_join(self, user: str, live_id: str) -> LiveInfo:
        live = await self.get_live(live_id)
        await policy.may_join(self.store, user, live)
        return live

    async def lives(self, live_ids: Sequence[str]) -> dict[str, LiveInfo]:
        """Resolve share states when read: the known lives among ``live_ids``."""
        found = {}
        for live_id in dict.fromkeys(live_ids):
            live = await self.store.get_live(live_id)
            if live is not None:
                found[live_id] = self._counted(live)
        return found

    async def shares_feed(
        self, viewer: str, cursor: str, limit: int
    ) -> Page[tuple[FeedEntry, LiveInfo]]:
        """Shares to all followers that reached ``viewer``, with their lives resolved now.
        Blocks hide each side: a share whose sender or live is across a block from the viewer
        is left out of the page, as ``GET /api/lives/{id}`` hides the live."""
        page = await self.store.page_feed(viewer, cursor, limit)
        lives = await self.lives([e.live_id for e in page.items])
        visible = []
        for entry in page.items:
            live = lives.get(entry.live_id)
            if live is None or (await self.store.relation(viewer, entry.sender)).blocked_either:
                continue
            try:
                await policy.may_see_live(self.store, viewer, live)
            except NotFound:
                continue
            visible.append((entry, live))
        return Page(tuple(visible), page.next_cursor)

    async def profile(self, viewer: str, user: str) -> Profile:
        """``user`` as ``viewer`` sees them; ``NotFound`` if unknown or if they blocked the
        viewer. The live is there only when the viewer may watch it."""
        await policy.require_users(self.store, [user])
        rel = await self.store.relation(viewer, user)
        if rel.blocked_by and viewer != user:
            raise NotFound(f"no such user: {user}", code="user_not_found")
        watchable = None
        for live_id in await self.store.running_lives(user):
            live = await self.store.get_live(live_id)
            if live is None or live.ended:
                continue
            try:
                await policy.may_watch(self.store, viewer, live)
                await self.rooms.ensure_may_watch(viewer, live_id)
            except DirectliveError:
                continue
            watchable = self._counted(live)
            break
        return Profile(
            user=user,
            private=(await self.store.get_settings(user)).private,
            followers=await self.store.count_users(user, "followers"),
            following=await self.store.count_users(user, "following"),
            i_follow=rel.following,
            follow_requested=rel.requested,
            follows_me=rel.followed_by,
            i_blocked=rel.blocking,
            live=watchable,
        )

    # -- presence, delivery, eviction --------------------------------------------------------
    def set_local_delivery(self, deliver: Callable[[str, Mapping[str, object]], None]) -> None:
        self.hub.set_local_delivery(deliver)

    def set_audience(self, audience: LiveAudience) -> None:
        self.hub.set_audience(audience)

    async def user_online(self, user: str) -> None:
        await self.hub.user_online(user)

    async def user_offline(self, user: str) -> None:
        await self.hub.user_offline(user)

    async def _recheck_hosts(self, hosts: list[str]) -> None:
        live_ids: list[str] = []
        for host in hosts:
            live_ids.extend(await self.store.running_lives(host))
        await self.hub.recheck(live_ids)

    async def _still_allowed(self, viewer: str, live_id: str) -> str | None:
        try:
            await policy.may_watch(self.store, viewer, await self.get_live(live_id))
            await self.rooms.ensure_may_watch(viewer, live_id)
        except (Forbidden, NotFound) as refused:
            return refused.code
        except DirectliveError as other:
            log.debug("re-check of %s on %s: %r", viewer, live_id, other)
            return other.code
        return None


def _room_delivery_for(store: Store, node_id: str) -> RoomDelivery:
    """Rooms span the nodes sharing a Redis store; with the memory store there is one node."""
    if isinstance(store, RedisStore):
        return RedisRoomDelivery(store.redis, node_id)
    return MemoryRoomDelivery()


def _room_store_for(store: Store) -> RoomStore:
    """Rooms live beside the main store: in Redis when it is Redis, else in memory."""
    if isinstance(store, RedisStore):
        return RedisRoomStore(store.redis)
    return MemoryRoomStore()
