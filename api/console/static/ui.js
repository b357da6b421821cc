// Small DOM helpers shared by the views: element building, messages, a button's busy state, debouncing, the
// institution search-as-you-type box and link, the programme and action-type options and the component colours.
// The views import it (never main.js, which imports every view).

import { api } from "./api.js";

export const COMPONENTS = ["thematic", "area_fit", "complementarity", "track_record", "network",
  "regional_experience", "similar_projects", "repeat_partnership"];
export const COMPONENT_LABELS = {
  thematic: "thematic", area_fit: "area fit", complementarity: "complementarity",
  track_record: "track record", network: "network", regional_experience: "regional experience",
  similar_projects: "similar past projects", repeat_partnership: "repeat partnership",
};
// The API's action types (seed_data/tables.py ACTION_TYPES), with what they stand for.
export const ACTION_TYPES = [
  ["RIA", "RIA: research and innovation action"], ["IA", "IA: innovation action"],
  ["CSA", "CSA: coordination and support action"], ["MSCA", "MSCA: Marie Skłodowska-Curie"],
  ["ERC", "ERC: European Research Council"], ["EIC", "EIC: European Innovation Council"], ["other", "other"],
];

/** The element with id `id`. */
export const byId = (id) => document.getElementById(id);

/** h("a", {href: "#"}, "text", child) — attributes starting with "on" become listeners; `style` is set
 * through the CSSOM, which the Content-Security-Policy (style-src 'self') allows, unlike a style attribute. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2).toLowerCase(), value);
    else if (name === "class") el.className = value;
    else if (name === "style") el.style.cssText = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A link to the console's page of the institution `id`, reading `text`. */
export function instLink(id, text) {
  return h("a", { href: `#/institution/${encodeURIComponent(id)}` }, text);
}

/** One <option> per programme of the catalogue (GET /programmes), valued by its key. */
export function programmeOptions(programmes) {
  return programmes.map((p) => h("option", { value: p.key }, p.name));
}

/** One <option> per action type of ACTION_TYPES. */
export function actionTypeOptions() {
  return ACTION_TYPES.map(([value, label]) => h("option", { value }, label));
}

/** The number typed into the input `id`; null when it is left empty. */
export function numberOrNull(id) {
  const value = byId(id).value.trim();
  return value === "" ? null : Number(value);
}

/** `value` if it is an absolute http(s) URL, else null: a link never gets a javascript: or data: URL, whatever
 * the catalogue holds. */
export function httpUrl(value) {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

const messageBox = () => document.getElementById("message");

/** Show an error (or, with `info`, a notice) at the top of the page; it stays until the next action. */
export function showMessage(text, { info = false } = {}) {
  const box = messageBox();
  box.textContent = text;
  box.className = info ? "info" : "";
  box.hidden = false;
}

export function clearMessage() {
  messageBox().hidden = true;
}

/** Set a status line (role=status) next to the thing that is loading. */
export function setStatus(id, text, { error = false } = {}) {
  const el = document.getElementById(id);
  el.textContent = text;
  el.classList.toggle("error", error);
}

/**
 * Run `work` (an async function) with `button` disabled and `text` in the status region `statusId`; the button is
 * enabled again however it ends. A failure clears the status and shows the error at the top of the page, or goes
 * to `onError(err)` where a view shows it elsewhere. `work` writes the status of a success itself.
 */
export async function busy(button, statusId, text, work, { onError } = {}) {
  button.disabled = true;
  setStatus(statusId, text);
  try {
    await work();
  } catch (err) {
    if (onError) onError(err);
    else {
      setStatus(statusId, "");
      showMessage(err.message);
    }
  } finally {
    button.disabled = false;
  }
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function fmt(value, digits = 3) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

/**
 * A combobox over GET /institutions?q=…: typing searches (debounced), arrows move, Enter or click
 * chooses. `onChoose(institution)` receives the chosen row; typing again clears the choice.
 */
export function institutionCombobox(input, list, { onChoose, onClear }) {
  let rows = [];
  let active = -1;
  let controller = null;

  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const highlight = (i) => {
    active = i;
    [...list.children].forEach((li, k) => li.setAttribute("aria-selected", String(k === i)));
    if (i >= 0) input.setAttribute("aria-activedescendant", list.children[i].id);
  };
  const choose = (row) => {
    input.value = row.name;
    close();
    onChoose(row);
  };
  const render = () => {
    list.replaceChildren(...rows.map((row, i) => h("li", {
      id: `${list.id}-${i}`, role: "option", "aria-selected": "false",
      onmousedown: (event) => { event.preventDefault(); choose(row); },
    }, row.name, " ", h("small", {}, `${row.country} · ${row.kind}${row.short_name ? " · " + row.short_name : ""}`
      + (row.has_research_evidence ? "" : " · no research evidence")))));
    list.hidden = rows.length === 0;
    input.setAttribute("aria-expanded", String(rows.length > 0));
  };
  const search = debounce(async () => {
    const q = input.value.trim();
    if (q.length < 2) { rows = []; render(); return; }
    controller?.abort();
    controller = new AbortController();
    try {
      const page = await api("/institutions", { query: { q, limit: 8 }, signal: controller.signal });
      rows = page.data;
      active = -1;
      render();
    } catch (err) {
      if (err.name !== "AbortError") showMessage(err.message);
    }
  }, 180);

  // options of an earlier query must not be chosen by Enter while the new one is on its way
  input.addEventListener("input", () => { onClear?.(); rows = []; render(); search(); });
  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown") { event.preventDefault(); highlight(Math.min(active + 1, rows.length - 1)); }
    else if (event.key === "ArrowUp") { event.preventDefault(); highlight(Math.max(active - 1, 0)); }
    else if (event.key === "Enter" && active >= 0) { event.preventDefault(); choose(rows[active]); }
    else if (event.key === "Escape") close();
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}
