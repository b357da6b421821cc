// Open calls: search the EU call topics (GET /calls) with filters, by deadline; one call's page (GET
// /calls/{topic id}) with its text, budget and portal link, partners suggested for it (POST /suggestions with
// `call`) and the way to "Build a consortium" for it.

import { api } from "./api.js";
import { prefillConsortium } from "./consortium.js";
import { card, legend } from "./find.js";
import {
  actionTypeOptions, busy, clearMessage, h, httpUrl, institutionCombobox, programmeOptions, setStatus,
} from "./ui.js";

const PAGE_SIZE = 50;
const DAY_MS = 86_400_000;
const euros = new Intl.NumberFormat("en", { style: "currency", currency: "EUR", notation: "compact",
  maximumFractionDigits: 1 });

let searched = false; // the list is filled once on the first visit, then only when the form is sent
let query = null; // the filters of the list shown, for "Show more"
let shown = 0;
let rendering = 0; // the latest showCall; an older answer that arrives late draws nothing
let current = null; // the call on the call page
let requester = null; // the institution chosen on the call page

export function initCalls(catalogue) {
  document.getElementById("calls-programme").append(...programmeOptions(catalogue.programmes));
  document.getElementById("calls-action").append(...actionTypeOptions());
  document.getElementById("calls-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  document.getElementById("calls-more").addEventListener("click", () => load({ append: true }));

  const chosen = document.getElementById("call-requester-chosen");
  institutionCombobox(document.getElementById("call-requester"), document.getElementById("call-requester-options"), {
    onChoose: (row) => {
      requester = row;
      chosen.textContent = `Chosen: ${row.name} (${row.country})`;
    },
    onClear: () => { requester = null; chosen.textContent = ""; },
  });
  document.getElementById("call-suggest-form").addEventListener("submit", (event) => {
    event.preventDefault();
    suggest();
  });
}

/** The list view: searched once with the form's defaults (open or forthcoming calls) on the first visit. */
export function showCalls() {
  if (!searched) search();
}

/** Days from today (the browser's date) to `isoDate` (YYYY-MM-DD); negative once passed. */
export function daysLeft(isoDate, today = new Date()) {
  const [y, m, d] = isoDate.split("-").map(Number);
  return Math.round((Date.UTC(y, m - 1, d) - Date.UTC(today.getFullYear(), today.getMonth(), today.getDate())) / DAY_MS);
}

function deadlineText(call) {
  if (!call.deadline) return "no deadline given";
  if (call.status === "closed") return "closed";
  const days = daysLeft(call.deadline);
  if (days < 0) return "closed";
  if (days === 0) return "closes today";
  return days === 1 ? "1 day left" : `${days} days left`;
}

function statusBadge(call) {
  return h("span", { class: `badge status-${call.status}` }, call.status);
}

function budgetText(call) {
  const { budget_min: low, budget_max: high } = call;
  if (low === null && high === null) return "–";
  if (low === null || high === null || low === high) return euros.format(low ?? high);
  return `${euros.format(low)}–${euros.format(high)}`;
}

function filters() {
  const value = (id) => document.getElementById(id).value.trim();
  return {
    q: value("calls-q"),
    // a portal name typed in wins over the list (the list holds our programme keys)
    programme: value("calls-portal-programme") || value("calls-programme"),
    action_type: value("calls-action"),
    cluster: value("calls-cluster"),
    deadline_from: value("calls-from"),
    deadline_to: value("calls-to"),
    open_only: document.getElementById("calls-open").checked,
  };
}

function search() {
  clearMessage();
  searched = true;
  query = filters();
  load({ append: false });
}

async function load({ append }) {
  const more = document.getElementById("calls-more");
  const body = document.querySelector("#calls-table tbody");
  await busy(document.getElementById("calls-submit"), "calls-status", "Searching calls…", async () => {
    const page = await api("/calls", { query: { ...query, limit: PAGE_SIZE, offset: append ? shown : 0 } });
    const rows = page.data.map(callRow);
    if (append) body.append(...rows);
    else body.replaceChildren(...rows);
    shown = (append ? shown : 0) + page.data.length;
    more.hidden = shown >= page.count;
    setStatus("calls-status", page.count
      ? `${page.count} call topic${page.count === 1 ? "" : "s"}, by deadline${shown < page.count ? ` (${shown} shown)` : ""}.`
      : "No call topic matches these filters.");
  });
}

function callRow(call) {
  return h("tr", { "data-topic": call.topic_id },
    h("td", { class: "deadline" }, call.deadline || "–", h("div", { class: "hint" }, deadlineText(call))),
    h("td", {}, statusBadge(call)),
    h("td", {}, h("a", { href: `#/call/${encodeURIComponent(call.topic_id)}` }, call.title),
      h("div", { class: "hint" }, call.topic_id)),
    h("td", {}, call.programme, call.cluster ? h("div", { class: "hint" }, call.cluster) : null),
    h("td", {}, call.action_type),
    h("td", { class: "num" }, budgetText(call)));
}

// --- one call -------------------------------------------------------------------------------------------

/** Draw the page of the call `topicId`; its partner suggestions start empty. */
export async function showCall(topicId) {
  const token = ++rendering;
  const title = document.getElementById("call-title");
  const body = document.getElementById("call-body");
  if (current?.topic_id !== topicId) {  // a new call: the suggestions of the last one go
    document.getElementById("call-suggest").hidden = true;
    document.getElementById("call-results").replaceChildren();
    setStatus("call-suggest-status", "");
  }
  title.textContent = "Call";
  body.replaceChildren(h("p", { role: "status" }, "Loading…"));
  let call;
  try {
    call = await api(`/calls/${encodeURIComponent(topicId)}`);
  } catch (err) {
    if (token === rendering) body.replaceChildren(h("p", { class: "error" }, err.message));
    return;
  }
  if (token !== rendering) return;
  current = call;
  title.textContent = call.title;
  document.title = `${call.topic_id} · partnermatch`;
  body.replaceChildren(...callPage(call));
}

function fact(name, ...value) {
  return [h("dt", {}, name), h("dd", {}, ...value)];
}

function callPage(call) {
  const portal = call.url && httpUrl(call.url);
  const supported = call.programme_key !== null;
  const suggestButton = h("button", { type: "button", class: "primary", id: "call-suggest-open", disabled: !supported,
    onclick: () => {
      const panel = document.getElementById("call-suggest");
      panel.hidden = false;
      suggest();
      document.getElementById("call-requester").focus();
    } }, "Suggest partners for this call");
  const consortium = supported
    ? h("a", { class: "button", id: "call-consortium", href: `#/consortium/${encodeURIComponent(call.topic_id)}`,
      onclick: () => prefillConsortium({ call: call.topic_id, requester }) }, "Build a consortium")
    : null;
  return [
    h("div", { class: "panel" },
      h("div", { class: "meta" }, h("strong", {}, call.topic_id), statusBadge(call),
        h("span", {}, deadlineText(call))),
      h("dl", { class: "facts" },
        ...fact("Programme", call.programme, call.cluster ? ` · ${call.cluster}` : ""),
        ...fact("Type of action", call.types_of_action || call.action_type, ` (${call.action_type})`),
        ...fact("Deadline", call.deadline || "not given", call.deadline_model ? ` · ${call.deadline_model}` : ""),
        ...fact("Budget per grant", budgetText(call)),
        ...fact("Expected grants", call.expected_grants ?? "–"),
        ...(call.call_identifier ? fact("Call", call.call_identifier, call.call_title ? ` — ${call.call_title}` : "") : []),
        ...(call.keywords.length ? fact("Keywords", call.keywords.join(", ")) : [])),
      portal ? h("p", {}, h("a", { href: portal, target: "_blank", rel: "noopener noreferrer" },
        "The topic on the Funding & Tenders portal")) : null,
      h("div", { class: "actions" }, suggestButton, consortium),
      supported ? null : h("p", { class: "hint" }, `partnermatch has no eligibility rules or weights for ${call.programme}: `
        + "partners and consortia can be suggested for Horizon Europe calls.")),
    h("div", { class: "panel" }, h("h2", {}, "Topic text"),
      call.text ? h("div", { class: "call-text" }, call.text) : h("p", { class: "hint" }, "The portal gives no description.")),
    call.conditions ? h("details", { class: "panel" }, h("summary", {}, "Admissibility and eligibility conditions"),
      h("div", { class: "call-text" }, call.conditions)) : null,
  ];
}

async function suggest() {
  if (!current) return;
  clearMessage();
  const body = { call: current.topic_id, k: Number(document.getElementById("call-k").value || 10) };
  if (requester) body.requester_id = requester.id;
  await busy(document.getElementById("call-suggest-submit"), "call-suggest-status", "Scoring candidates for the call…", async () => {
    const response = await api("/suggestions", { method: "POST", body });
    renderSuggestions(response);
    setStatus("call-suggest-status", `${response.data.length} suggestions from ${response.n_eligible} eligible candidates`
      + `${response.requester ? ` for ${response.requester.name}` : ""}.`);
  });
}

function renderSuggestions(response) {
  const head = response.notes.map((note) => h("p", { class: "hint" }, note));
  if (response.data.length) head.push(legend());
  else head.push(h("p", {}, "No eligible candidate for this call."));
  document.getElementById("call-results").replaceChildren(...head,
    ...response.data.map((s) => card(s, response, {
      idPrefix: "call-card", requesterLabel: `call ${response.call?.topic_id ?? ""}`.trim() })));
}
