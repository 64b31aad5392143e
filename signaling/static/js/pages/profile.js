// A profile: follow / unfollow / follow request, block / unblock, message. Your own profile
// lists follow requests to approve or decline, your followers and whom you follow.
import { api, all, enc } from "../api.js";
import { avatar, h, replace } from "../dom.js";
import { sentence } from "../errors.js";

export async function render(ctx) {
  const user = ctx.args[0] || ctx.me;
  return user === ctx.me ? renderMine(ctx) : renderOther(ctx, user);
}

function userList(users, action = null) {
  return h("ul", { class: "people" }, users.length
    ? users.map((u) => h("li", { dataset: { user: u } }, avatar(u, "sm"), h("a", { href: `#/profile/${enc(u)}` }, u), action ? action(u) : null))
    : h("li", { class: "muted" }, "Nobody yet."));
}

async function renderMine(ctx) {
  const section = h("section", { class: "card profile" },
    h("div", { class: "profile-head" }, avatar(ctx.me), h("h1", {}, `@${ctx.me}`)));
  ctx.main.append(section);
  const body = h("div", { class: "loading", role: "status", "aria-label": "Loading" }, h("div", { class: "skeleton" }), h("div", { class: "skeleton" }));
  section.append(body);
  const load = async () => {
    try {
      const [me, requests, followers, following] = await Promise.all([
        api.get("/api/me"),
        all("/api/follow-requests", "users"),
        all(`/api/users/${enc(ctx.me)}/followers`, "users"),
        all(`/api/users/${enc(ctx.me)}/following`, "users"),
      ]);
      if (!ctx.alive()) return;
      const act = (path, label, cls = "") => (u) => h("button", {
        class: `small ${cls}`,
        onclick: async () => {
          try {
            if (path.startsWith("DELETE ")) await api.del(path.slice(7).replace("{}", enc(u)));
            else await api.post(path.replace("{}", enc(u)));
            await load();
          } catch (error) {
            ctx.error(error);
          }
        },
      }, label);
      body.className = "";
      body.removeAttribute("role");
      body.removeAttribute("aria-label");
      replace(body,
        h("p", {}, me.settings.private ? "Private account: people ask to follow you." : "Public account: anyone can follow you.",
          " ", h("a", { href: "#/settings" }, "Change")),
        h("h2", {}, `Follow requests (${requests.length})`),
        h("div", { "data-testid": "follow-requests" }, userList(requests, (u) => h("span", {},
          act("/api/follow-requests/{}/approve", "Approve", "primary")(u),
          act("/api/follow-requests/{}/decline", "Decline")(u)))),
        h("h2", {}, `Followers (${followers.length})`),
        userList(followers, act("DELETE /api/followers/{}", "Remove")),
        h("h2", {}, `Following (${following.length})`),
        userList(following, act("DELETE /api/users/{}/follow", "Unfollow")),
      );
    } catch (error) {
      if (ctx.alive()) ctx.error(error);
    }
  };
  for (const type of ["follow.request", "follow.new", "resumed"]) ctx.on(type, load);
  await load();
}

// GET /api/users/{id} when the server has it (follow state, live); else today's calls.
async function profileOf(user) {
  try {
    return (await api.get(`/api/users/${enc(user)}`)).user;
  } catch (error) {
    if (error.code !== "not_found") throw error;
  }
  return null;
}

async function renderOther(ctx, user) {
  const status = h("p", { class: "status", role: "status", "data-testid": "profile-status" });
  const actions = h("div", { class: "actions" });
  const lists = h("div", {});
  const live = h("div", {});
  ctx.main.append(h("section", { class: "card profile" },
    h("div", { class: "profile-head" }, avatar(user), h("h1", {}, `@${user}`)), live, status, actions, lists));
  let requested = false;

  const run = async (fn) => {
    try {
      await fn();
      await load();
    } catch (error) {
      ctx.error(error);
    }
  };

  async function load() {
    let profile = null;
    let followers = null;
    let hidden = null;
    try {
      profile = await profileOf(user);
      if (profile) requested = Boolean(profile.follow_requested);
      else followers = await all(`/api/users/${enc(user)}/followers`, "users");
    } catch (error) {
      hidden = error;
    }
    if (!ctx.alive()) return;
    if (hidden && hidden.code === "user_not_found") {
      status.textContent = "This account isn't available. If you blocked it, you can unblock it.";
      replace(actions, h("button", { onclick: () => run(() => api.del(`/api/users/${enc(user)}/block`)) }, "Unblock"));
      replace(lists);
      replace(live);
      return;
    }
    if (hidden && hidden.code !== "private_account") {
      ctx.error(hidden);
      return;
    }
    replace(live, profile && profile.live
      ? h("p", {}, h("span", { class: "live-dot" }, "LIVE"), ` ${user} is live · ${profile.live.viewer_count} watching `,
        h("a", { class: "button primary small", href: `#/watch/${enc(profile.live.live_id)}` }, "Watch"))
      : null);
    const following = profile ? Boolean(profile.i_follow) : followers ? followers.includes(ctx.me) : false;
    const closed = profile ? profile.private && !profile.i_follow : Boolean(hidden);
    status.textContent = closed
      ? sentence({ code: "private_account" })
      : following ? `You follow ${user}.` : "";
    const follow = following
      ? h("button", { "data-testid": "unfollow", onclick: () => run(() => api.del(`/api/users/${enc(user)}/follow`)) }, "Following")
      : requested
        ? h("button", { "data-testid": "requested", title: "Withdraw the request", onclick: () => run(async () => {
          await api.del(`/api/users/${enc(user)}/follow`);
          requested = false;
        }) }, "Requested")
        : h("button", { class: "primary", "data-testid": "follow", onclick: () => run(async () => {
          const answer = await api.post(`/api/users/${enc(user)}/follow`);
          requested = answer.status === "requested";
          if (requested) ctx.notice(`Follow request sent to ${user}.`);
        }) }, profile && profile.follows_me ? "Follow back" : "Follow");
    replace(actions,
      follow,
      h("button", { onclick: () => run(async () => {
        const thread = await api.post("/api/threads", { members: [user] });
        ctx.navigate(`#/thread/${enc(thread.thread_id)}`);
      }) }, "Message"),
      h("button", { class: "danger", "data-testid": "block", onclick: () => {
        if (confirm(`Block ${user}? They won't be able to watch your lives, message you or see your profile.`)) {
          run(() => api.post(`/api/users/${enc(user)}/block`));
        }
      } }, "Block"),
    );
    if (profile) {
      replace(lists, h("p", { class: "muted" }, `${profile.followers} followers · ${profile.following} following`));
    } else {
      replace(lists, followers ? [h("h2", {}, `Followers (${followers.length})`), userList(followers)] : []);
    }
  }
  ctx.on("follow.approved", (m) => m.by === user && load());
  await load();
}
