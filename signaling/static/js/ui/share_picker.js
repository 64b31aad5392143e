// "Share": a dialog to pick people (searchable), groups and (the host only) all followers.
import { api, all, enc } from "../api.js";
import { h } from "../dom.js";
import { sentence } from "../errors.js";
import { knownPeople, peoplePicker } from "./people_picker.js";

export async function openSharePicker({ me, liveId, isHost }) {
  const [people, inbox] = await Promise.all([
    knownPeople(me),
    all("/api/inbox", "threads", 200).catch(() => []),
  ]);
  const groups = inbox.filter((t) => t.kind === "group");
  const status = h("p", { class: "status", role: "status" });
  const box = (name, value, label) =>
    h("label", { class: "switch pick" }, h("input", { type: "checkbox", name, value }), label);
  const picker = peoplePicker({ people, me, label: "Search people to share with" });

  const dialog = h("dialog", { class: "share-picker", "data-testid": "share-picker", "aria-label": "Share this live" });
  const form = h(
    "form",
    {
      method: "dialog",
      onsubmit: async (event) => {
        event.preventDefault();
        const picked = (name) =>
          [...form.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
        const body = { users: picker.chosen(), threads: picked("thread") };
        if (isHost && form.querySelector("input[name=all]:checked")) body.all_followers = true;
        status.className = "status";
        status.textContent = "Sending…";
        try {
          await api.post(`/api/lives/${enc(liveId)}/share`, body);
          const count = body.users.length + body.threads.length;
          status.textContent = body.all_followers
            ? `Shared with all your followers${count ? ` and ${count} more` : ""}.`
            : `Sent to ${count}.`;
          setTimeout(() => dialog.close(), 700);
        } catch (error) {
          status.className = "status error";
          status.textContent = sentence(error);
        }
      },
    },
    h("h2", {}, "Share this live"),
    isHost ? box("all", "1", h("b", {}, "All followers")) : null,
    picker.el,
    groups.length
      ? h("fieldset", {}, h("legend", {}, "Groups"), groups.map((t) => box("thread", t.thread_id, t.name || t.members.join(", "))))
      : null,
    status,
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => dialog.close() }, "Cancel"),
      h("button", { type: "submit", class: "primary" }, "Send"),
    ),
  );
  dialog.append(form);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}
