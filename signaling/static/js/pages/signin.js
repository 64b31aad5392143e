// Sign in: in --dev mode a picker that mints tokens (POST /dev/token); always, paste a token.
import { api } from "../api.js";
import { h } from "../dom.js";
import { sentence } from "../errors.js";
import { signIn } from "../app.js";

export async function render(ctx) {
  const status = h("p", { class: "status error", role: "alert" });
  const enter = async (token) => {
    status.textContent = "";
    try {
      await signIn(token);
      ctx.navigate("#/inbox");
    } catch (error) {
      status.textContent = sentence(error);
    }
  };
  const mint = async (user) => {
    try {
      const { token } = await api.post("/dev/token", { user }, { auth: false });
      await enter(token);
    } catch (error) {
      status.textContent = sentence(error);
    }
  };

  const section = h("section", { class: "card signin" }, h("h1", {}, "Sign in"));
  ctx.main.append(section);
  let dev = null;
  try {
    dev = await api.get("/dev/users", { auth: false });
  } catch {
    dev = null; // not a --dev server: tokens come from `directlive token USER`
  }
  if (!ctx.alive()) return;
  if (dev) {
    const name = h("input", { name: "user", placeholder: "or any name", autocomplete: "off", "aria-label": "Sign in as any name" });
    section.append(
      h("p", {}, dev.demo ? "Demo mode: pick someone to be." : "Development mode: pick a user."),
      h("ul", { class: "user-picker", "data-testid": "user-picker" },
        dev.users.map((u) => h("li", {},
          h("button", { class: "user", dataset: { user: u.id }, onclick: () => mint(u.id) }, u.id),
          u.note ? h("span", { class: "muted" }, ` ${u.note}`) : null,
        )),
      ),
      h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); mint(name.value); } },
        name, h("button", { type: "submit" }, "Sign in")),
    );
  }
  const token = h("textarea", { name: "token", rows: "3", placeholder: "Paste a token from `directlive token USER`" });
  section.append(
    h("form", { class: "paste", onsubmit: (e) => { e.preventDefault(); enter(token.value.trim()); } },
      h("label", {}, "Token", token),
      h("button", { type: "submit", class: "primary" }, "Sign in with token"),
    ),
    status,
  );
}
