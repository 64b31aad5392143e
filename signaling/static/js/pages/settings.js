// Settings: the public / private switch and "allow sharing of my lives".
import { api } from "../api.js";
import { h } from "../dom.js";
import { signOut } from "../app.js";

export async function render(ctx) {
  const me = await api.get("/api/me");
  if (!ctx.alive()) return;
  const status = h("p", { class: "status", role: "status" });
  const toggle = (key, label, help) => {
    const box = h("input", {
      type: "checkbox", name: key, checked: Boolean(me.settings[key]),
      onchange: async () => {
        box.disabled = true;
        try {
          const saved = await api.patch("/api/me/settings", { [key]: box.checked });
          box.checked = saved[key];
          status.textContent = "Saved.";
        } catch (error) {
          box.checked = !box.checked;
          ctx.error(error);
        } finally {
          box.disabled = false;
        }
      },
    });
    return h("label", { class: "setting" }, box, h("span", {}, h("b", {}, label), h("br"), h("span", { class: "muted" }, help)));
  };
  ctx.main.append(h("section", { class: "card settings" },
    h("h1", {}, "Settings"),
    toggle("private", "Private account", "Only followers you approve can watch your lives. Switching to public approves every pending request."),
    toggle("allow_sharing", "Allow sharing of my lives", "Viewers can send your lives on to others (you always can)."),
    status,
    h("hr"),
    h("p", {}, `Signed in as @${ctx.me}. `, h("button", { onclick: () => signOut() }, "Sign out")),
  ));
}
