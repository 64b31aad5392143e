// The one-page app: session, header, notices, and hash routing (#/page/arg?key=value).
import { api, setToken } from "./api.js";
import { h, replace } from "./dom.js";
import { sentence } from "./errors.js";
import { LiveSocket } from "./socket.js";

const TOKEN_KEY = "directlive.token";
const PAGES = {
  signin: () => import("./pages/signin.js"),
  inbox: () => import("./pages/inbox.js"),
  requests: () => import("./pages/requests.js"),
  thread: () => import("./pages/thread.js"),
  watch: () => import("./pages/watch.js"),
  live: () => import("./pages/golive.js"),
  profile: () => import("./pages/profile.js"),
  settings: () => import("./pages/settings.js"),
};

const app = {
  me: null,
  socket: null,
  state: {}, // survives page changes (the host's running broadcast)
  page: null, // { name, cleanups }
  debug: {}, // pages publish what they show, for people debugging and for the tests
};
window.directliveApp = app;

const $ = (id) => document.getElementById(id);

// -- notices: errors are always shown, once per code, and belong to the page they came from --
export function showError(error) {
  console.warn("directlive error", error);
  notice(sentence(error), "error", (error && error.code) || "");
}

export function notice(text, kind = "info", code = "") {
  const box = $("dl-notices");
  for (const old of box.children) {
    if (old.dataset.text === text) old.remove(); // the same sentence again: show it once, anew
  }
  const item = h(
    "div",
    { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status", dataset: { code, text } },
    h("span", {}, text),
    h("button", { class: "link", "aria-label": "Dismiss", onclick: () => item.remove() }, "✕"),
  );
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 6000 : 4000);
}

function clearNotices() {
  replace($("dl-notices"));
}

// -- session -----------------------------------------------------------------------------------
export async function signIn(token) {
  setToken(token);
  const me = await api.get("/api/me"); // throws on a bad token
  localStorage.setItem(TOKEN_KEY, token);
  app.me = me.user;
  startSocket(token);
  $("dl-nav").hidden = false;
  $("dl-settings").hidden = false;
  $("dl-who").setAttribute("href", `#/profile/${encodeURIComponent(app.me)}`);
  refreshCounts();
  return me;
}

export function signOut(reason) {
  if (app.page) for (const fn of app.page.cleanups.splice(0)) safely(fn); // ends a running live
  app.state = {};
  if (app.socket) app.socket.stop();
  app.socket = null;
  app.me = null;
  setToken(null);
  localStorage.removeItem(TOKEN_KEY);
  $("dl-nav").hidden = true;
  $("dl-settings").hidden = true;
  replace($("dl-conn"));
  if (reason) showError(reason);
  navigate("#/signin");
}

function startSocket(token) {
  if (app.socket) app.socket.stop();
  const socket = new LiveSocket(token);
  app.socket = socket;
  const conn = $("dl-conn");
  socket.on("status", ({ status }) => {
    conn.dataset.status = status;
    conn.textContent = { open: "", connecting: "connecting…", reconnecting: "reconnecting…", closed: "offline" }[status];
  });
  socket.on("auth_failed", ({ code }) => signOut({ code }));
  socket.on("socket_error", (m) => showError(m));
  for (const type of ["message.new", "request.new", "share.new", "resumed"]) {
    socket.on(type, () => refreshCounts());
  }
  socket.on("follow.request", (m) => notice(`${m.from} asked to follow you.`));
  socket.on("follow.approved", (m) => notice(`${m.by} approved your follow request.`));
  socket.on("live.evicted", (m) => showError({ code: m.code }));
  socket.start();
}

let countsTimer = null;
export function refreshCounts() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(async () => {
    if (!app.me) return;
    try {
      const [me, requests] = await Promise.all([api.get("/api/me"), api.get("/api/requests?limit=200")]);
      badge($("dl-unread"), me.unread_threads);
      badge($("dl-requests"), requests.threads.length);
    } catch (error) {
      showError(error);
    }
  }, 100);
}

function badge(el, n) {
  el.dataset.count = String(n);
  el.hidden = !n;
  el.textContent = n ? String(n) : "";
  el.setAttribute("aria-label", `${n} new`);
}

// -- routing -----------------------------------------------------------------------------------
export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function parseHash() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...args] = path.split("/").map(decodeURIComponent);
  return { name: name || "inbox", args, query: new URLSearchParams(query) };
}

async function route() {
  const { name, args, query } = parseHash();
  if (app.page) for (const fn of app.page.cleanups.splice(0)) safely(fn);
  const page = { name, cleanups: [] };
  app.page = page;
  app.debug = {};
  const main = $("dl-main");
  const changedPage = main.dataset.page !== name;
  replace(main, h("div", { class: "loading", role: "status", "aria-label": "Loading" },
    h("div", { class: "skeleton" }), h("div", { class: "skeleton" }), h("div", { class: "skeleton" })));
  main.dataset.page = name;
  if (changedPage) clearNotices();
  for (const link of document.querySelectorAll("#dl-nav a")) {
    const active = link.dataset.route === name;
    link.classList.toggle("active", active);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!app.me && name !== "signin") return navigate("#/signin");
  document.body.dataset.page = name;
  const load = PAGES[name];
  if (!load) {
    main.append(h("p", { class: "empty" }, "There is nothing here. ", h("a", { href: "#/inbox" }, "Back to the inbox")));
    return;
  }
  const ctx = {
    app,
    me: app.me,
    socket: app.socket,
    main,
    args,
    query,
    alive: () => app.page === page,
    on: (type, fn) => page.cleanups.push(app.socket.on(type, fn)),
    cleanup: (fn) => page.cleanups.push(fn),
    error: showError,
    notice,
    navigate,
  };
  try {
    const module = await load();
    if (!ctx.alive()) return;
    replace(main);
    await module.render(ctx);
  } catch (error) {
    if (ctx.alive()) {
      showError(error);
      main.append(h("p", { class: "error" }, sentence(error)));
    }
  }
}

function safely(fn) {
  try {
    fn();
  } catch (error) {
    console.error("cleanup failed", error);
  }
}

async function boot() {
  window.addEventListener("hashchange", route);
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) {
    try {
      await signIn(token);
    } catch (error) {
      localStorage.removeItem(TOKEN_KEY);
      setToken(null);
      showError(error);
    }
  }
  route();
}

boot();
