// A small in-page question (instead of window.confirm, which blocks the page and cannot be
// styled or translated): a message with a yes button and Cancel; Enter answers yes,
// Escape or a click outside answers no.

import { t } from "./i18n.js";

let openBox = null; // {el, done}

/** Ask; resolves true for yes. A newer question answers the open one with no. */
export function confirmBox(message, yesLabel = t("OK")) {
  openBox?.done(false);
  return new Promise((resolve) => {
    const back = document.createElement("div");
    back.className = "dialog-back";
    const box = document.createElement("div");
    box.className = "dialog confirm-dialog";
    box.setAttribute("role", "dialog");
    const text = document.createElement("p");
    text.textContent = message;
    const yes = document.createElement("button");
    yes.className = "dialog-yes";
    yes.textContent = yesLabel;
    const no = document.createElement("button");
    no.className = "dialog-no";
    no.textContent = t("Cancel");
    const row = document.createElement("div");
    row.className = "row";
    row.append(yes, no);
    box.append(text, row);
    back.appendChild(box);
    const key = (e) => {
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); done(false); }
      else if (e.key === "Enter") { e.preventDefault(); e.stopPropagation(); done(true); }
    };
    const done = (answer) => {
      if (openBox?.el !== back) return;
      openBox = null;
      document.removeEventListener("keydown", key, true);
      back.remove();
      resolve(answer);
    };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    back.addEventListener("pointerdown", (e) => { if (e.target === back) done(false); });
    document.addEventListener("keydown", key, true);
    document.body.appendChild(back);
    openBox = { el: back, done };
    yes.focus();
  });
}
