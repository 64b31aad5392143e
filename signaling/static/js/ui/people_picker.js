// Pick people by searching ids among the people you follow and who follow you (any other
// valid id can be added by typing it whole). Chosen people show as chips above the list.
import { all, enc } from "../api.js";
import { avatar, h, replace } from "../dom.js";

const USER_ID = /^[a-z0-9][a-z0-9_.-]{0,31}$/;

export async function knownPeople(me) {
  const [following, followers] = await Promise.all([
    all(`/api/users/${enc(me)}/following`, "users").catch(() => []),
    all(`/api/users/${enc(me)}/followers`, "users").catch(() => []),
  ]);
  return [...new Set([...following, ...followers])].filter((u) => u !== me).sort();
}

export function peoplePicker({ people, me, label = "Search people" }) {
  const chosen = new Set();
  const search = h("input", {
    type: "search", name: "people-search", placeholder: "Search", autocomplete: "off",
    "aria-label": label, "data-testid": "people-search",
    oninput: () => draw(),
  });
  const chips = h("div", { class: "chips", "aria-live": "polite", "data-testid": "people-chosen" });
  const list = h("ul", { class: "picker-list", "data-testid": "people-list" });

  function draw() {
    const query = search.value.trim().toLowerCase();
    const matches = people.filter((u) => u.includes(query));
    // Someone outside the lists is offered only when typed whole and nobody in them matches.
    const extra = query && !matches.length && USER_ID.test(query) && query !== me ? [query] : [];
    replace(list, [...extra, ...matches].map((user) => {
      const box = h("input", {
        type: "checkbox", name: "user", value: user, checked: chosen.has(user),
        onchange: () => {
          if (box.checked) chosen.add(user);
          else chosen.delete(user);
          drawChips();
        },
      });
      return h("li", {}, h("label", { dataset: { user } }, avatar(user, "sm"), h("span", { class: "name" }, user),
        extra.includes(user) ? h("span", { class: "muted small" }, "(not in your list)") : null, box));
    }));
    if (!list.children.length) {
      list.append(h("li", { class: "empty" }, people.length ? "Nobody matches." : "Nobody yet: follow people from their profile, or type a name."));
    }
  }
  function drawChips() {
    replace(chips, [...chosen].map((u) => h("span", { class: "chip" }, u)));
  }
  draw();
  return {
    el: h("div", { class: "picker" }, search, chips, list),
    chosen: () => [...chosen],
  };
}
