// Build a consortium: a requester and a call (or a programme, action type and idea) go to POST /consortia; the
// alternatives come back side by side with each member's role, the aspects it covers and the evidence, the
// rules each alternative meets and its objective term by term. A member can be locked into every alternative or
// excluded from all, then "Rebuild"; the alternatives shown are exported as they are (POST /consortia/export
// takes the answer of POST /consortia back).

import { api, download } from "./api.js";
import {
  actionTypeOptions, busy, byId, clearMessage, fmt, h, httpUrl, instLink, institutionCombobox, numberOrNull,
  programmeOptions, setStatus, showMessage,
} from "./ui.js";

const ROLES = { coordinator_candidate: "coordinator candidate", beneficiary: "beneficiary",
  associated_partner: "associated partner" };
const TERMS = { coverage: "aspects covered", quality: "quality", cohesion: "cohesion (past ties)",
  kind_complementarity: "kinds complement", diversity: "diversity", coordinator_experience: "coordinator experience",
  size_penalty: "size penalty" };

let requester = null; // the chosen catalogue institution
let pending = null; // what another page handed over for the next showConsortium ({call, requester})
const locked = new Map(); // institution id -> name, in every alternative
const excluded = new Map(); // institution id -> name, in none
let lastAnswer = null; // the answer of POST /consortia shown (what export sends back)
let lastCall = null; // the call the page was last opened for

export function initConsortium(catalogue) {
  byId("cons-programme").replaceChildren(...programmeOptions(catalogue.programmes));
  byId("cons-action").append(...actionTypeOptions());
  for (const radio of document.querySelectorAll("input[name=cons-mode]")) {
    radio.addEventListener("change", () => showMode(radio.value));
  }
  institutionCombobox(byId("cons-requester"), byId("cons-requester-options"), {
    onChoose: chooseRequester,
    onClear: () => { requester = null; byId("cons-requester-chosen").textContent = ""; },
  });
  byId("consortium-form").addEventListener("submit", (event) => { event.preventDefault(); build(); });
  byId("cons-export-csv").addEventListener("click", () => exportAs("csv"));
  byId("cons-export-xlsx").addEventListener("click", () => exportAs("xlsx"));
  renderChips();
}

/** What the call page hands over before it opens #/consortium/<topic id>: the call and its chosen requester. */
export function prefillConsortium({ call, requester: row }) {
  pending = { call, requester: row };
}

function chooseRequester(row) {
  requester = row;
  byId("cons-requester").value = row.name;
  byId("cons-requester-chosen").replaceChildren(`Chosen: ${row.name} (${row.country}) · `,
    instLink(row.id, "institution page"));
}

function showMode(mode) {
  for (const radio of document.querySelectorAll("input[name=cons-mode]")) radio.checked = radio.value === mode;
  byId("cons-call-field").hidden = mode !== "call";
  byId("cons-idea-fields").hidden = mode !== "idea";
}

/** The builder; `topicId` (from #/consortium/<topic id>) fills in the call. */
export async function showConsortium(topicId) {
  if (pending?.requester) chooseRequester(pending.requester);  // chosen on the call page just now: it wins
  pending = null;
  if (!topicId || topicId === lastCall) return;
  lastCall = topicId;
  showMode("call");
  byId("cons-call").value = topicId;
  byId("cons-results").replaceChildren();  // alternatives of another call would mislead
  setStatus("cons-status", "");
  lastAnswer = null;
  setExport(false);
  const hint = byId("cons-call-title");
  hint.textContent = "";
  try {
    const call = await api(`/calls/${encodeURIComponent(topicId)}`);
    if (byId("cons-call").value === topicId) hint.textContent = `${call.title} · ${call.programme}, ${call.action_type}`;
  } catch (err) {
    hint.textContent = err.message;
  }
}

/** The request from the form; a message and null when something needed is missing. */
function buildRequest() {
  const body = { alternatives: numberOrNull("cons-alternatives") ?? 3, lock: [...locked.keys()],
    exclude: [...excluded.keys()] };
  if (requester) body.requester_id = requester.id;
  const sizeMin = numberOrNull("cons-size-min");
  const sizeMax = numberOrNull("cons-size-max");
  if (sizeMin !== null) body.size_min = sizeMin;
  if (sizeMax !== null) body.size_max = sizeMax;
  if (document.querySelector("input[name=cons-mode]:checked").value === "call") {
    const call = byId("cons-call").value.trim();
    if (!call) {
      showMessage("Give the call's topic id (find it under Open calls), or switch to a programme and idea.");
      byId("cons-call").focus();
      return null;
    }
    body.call = call;
  } else {
    body.programme = byId("cons-programme").value;
    const action = byId("cons-action").value;
    if (action) body.action_type = action;
    const text = byId("cons-text").value.trim();
    if (text) body.text = text;
    if (!text && !requester) {
      showMessage("Describe the idea the consortium answers, or choose the requesting institution.");
      byId("cons-text").focus();
      return null;
    }
  }
  return body;
}

function setExport(enabled) {
  byId("cons-export-csv").disabled = !enabled;
  byId("cons-export-xlsx").disabled = !enabled;
}

async function build() {
  clearMessage();
  const body = buildRequest();
  if (!body) return;
  const button = byId("cons-submit");
  await busy(button, "cons-status", "Building consortia (this takes some seconds)…", async () => {
    const response = await api("/consortia", { method: "POST", body });
    lastAnswer = response;
    render(response);
    setExport(true);
    button.textContent = "Rebuild";
    setStatus("cons-status", `${response.proposals.length} alternative${response.proposals.length === 1 ? "" : "s"} `
      + `from ${response.pool_size} candidates in ${fmt(response.seconds, 1)} s.`);
  });
}

async function exportAs(format) {
  clearMessage();
  if (!lastAnswer) return;
  const label = format === "csv" ? "CSV" : "Excel";
  setStatus("cons-status", `Preparing the ${label} file…`);
  try {
    // the answer shown goes back as it came: the file holds exactly the alternatives on the page
    const response = await api("/consortia/export", { method: "POST", query: { format }, body: lastAnswer, asBlob: true });
    await download(response, `partnermatch-consortia.${format}`);
    setStatus("cons-status", `Exported the alternatives as ${label}.`);
  } catch (err) {
    setStatus("cons-status", "");
    showMessage(err.message);
  }
}

// --- lock and exclude -----------------------------------------------------------------------------------

function toggle(set, other, id, name) {
  if (set.has(id)) set.delete(id);
  else { set.set(id, name); other.delete(id); }
  renderChips();
  refreshMemberButtons();
  setStatus("cons-status", "Press Rebuild to build the alternatives with these locks and exclusions.");
}

function chips(listId, map, verb) {
  const list = byId(listId);
  if (!map.size) { list.replaceChildren(h("li", { class: "hint" }, "none")); return; }
  list.replaceChildren(...[...map].map(([id, name]) => h("li", { "data-institution": id }, name,
    h("button", { type: "button", class: "small", "aria-label": `${verb} ${name}`,
      onclick: () => { map.delete(id); renderChips(); refreshMemberButtons(); } }, "×"))));
}

function renderChips() {
  chips("cons-locked", locked, "Unlock");
  chips("cons-excluded", excluded, "Stop excluding");
}

/** The lock / exclude buttons of every member shown, after a change of either list. */
function refreshMemberButtons() {
  for (const button of document.querySelectorAll("#cons-results button[data-action]")) {
    const id = button.dataset.id;
    const name = button.dataset.name;
    const on = (button.dataset.action === "lock" ? locked : excluded).has(id);
    button.setAttribute("aria-pressed", String(on));
    if (button.dataset.action === "lock") {
      button.textContent = on ? "Locked" : "Lock";
      button.setAttribute("aria-label", `${on ? "Unlock" : "Lock"} ${name}`);
    } else {
      button.textContent = on ? "Excluded" : "Exclude";
      button.setAttribute("aria-label", `${on ? "Stop excluding" : "Exclude"} ${name}`);
    }
  }
}

// --- the alternatives -----------------------------------------------------------------------------------

function evidenceItem(cover, aspects) {
  const ev = cover.evidence;
  const source = ev.source && httpUrl(ev.source);
  return h("li", {}, h("strong", {}, `A${cover.aspect + 1}`), " ",
    h("span", { class: "hint" }, (aspects.get(cover.aspect) || "").slice(0, 90)), h("br"),
    source ? h("a", { href: source, target: "_blank", rel: "noopener noreferrer" }, ev.title || ev.id) : (ev.title || ev.id),
    ev.year ? ` (${ev.year})` : "", ev.source && !source ? h("small", { class: "hint" }, ` · ${ev.source}`) : null,
    ev.similarity !== null && ev.similarity !== undefined ? h("small", { class: "hint" }, ` · similarity ${fmt(ev.similarity, 2)}`) : null);
}

function member(m, aspects) {
  const inst = m.institution;
  const buttons = m.requester ? [] : ["lock", "exclude"].map((action) => h("button", {
    type: "button", class: "small", "data-action": action, "data-id": inst.id, "data-name": inst.name,
    onclick: () => (action === "lock" ? toggle(locked, excluded, inst.id, inst.name)
      : toggle(excluded, locked, inst.id, inst.name)),
  }));
  const covered = m.aspects.map((c) => `A${c.aspect + 1}`).join(", ");
  return h("li", { class: "member", "data-institution": inst.id, "data-role": m.role },
    h("div", {}, instLink(inst.id, inst.name),
      m.requester ? h("span", { class: "badge tie" }, "requester") : null,
      m.locked ? h("span", { class: "badge locked" }, "locked") : null),
    h("div", { class: "meta" }, h("span", { class: `role role-${m.role}` }, ROLES[m.role] || m.role),
      h("span", {}, inst.country), h("span", {}, inst.kind),
      h("span", { title: "ranking score scaled over the pool" }, `quality ${fmt(m.quality, 2)}`),
      m.coordinated_projects ? h("span", {}, `coordinated ${m.coordinated_projects}`) : null),
    m.aspects.length
      ? h("details", { class: "evidence" }, h("summary", {}, `Covers ${covered}`),
        h("ul", {}, m.aspects.map((c) => evidenceItem(c, aspects))))
      : h("div", { class: "hint" }, "covers no aspect"),
    buttons.length ? h("div", { class: "actions" }, ...buttons) : null);
}

function breakdown(p) {
  return h("table", { class: "breakdown" },
    h("caption", { class: "sr-only" }, `Objective of alternative ${p.rank}, term by term`),
    h("tbody", {}, ...Object.entries(p.breakdown).map(([term, value]) => h("tr", {},
      h("th", { scope: "row" }, TERMS[term] || term), h("td", { class: "num" }, fmt(value)))),
    h("tr", { class: "total" }, h("th", { scope: "row" }, "objective"), h("td", { class: "num" }, fmt(p.objective)))));
}

function rules(p) {
  const met = p.rules.filter((r) => r.satisfied).length;
  return h("details", { class: "rules", open: met < p.rules.length },
    h("summary", {}, `Rules: ${met} of ${p.rules.length} met`),
    h("ul", {}, p.rules.map((r) => h("li", { "data-rule": r.rule, class: r.satisfied ? "met" : "failed" },
      h("strong", {}, r.satisfied ? "✓ " : "✗ "), h("span", { class: "sr-only" }, r.satisfied ? "met: " : "not met: "),
      r.explanation, h("div", { class: "hint" }, `${r.paraphrase} (${r.source})`)))));
}

function proposal(p, aspects) {
  return h("section", { class: "alternative", "data-rank": p.rank, "aria-labelledby": `alt-${p.rank}` },
    h("h2", { id: `alt-${p.rank}` }, `Alternative ${p.rank}`,
      h("span", { class: `badge ${p.valid ? "valid" : "invalid"}` }, p.valid ? "meets the rules" : "breaks a rule")),
    h("p", { class: "meta" }, h("span", {}, `${p.size} members`), h("span", {}, `${p.countries.length} countries`),
      h("span", {}, `aspects ${p.aspects_covered}/${aspects.size}`), h("span", {}, `objective ${fmt(p.objective)}`),
      p.solver_status !== "OPTIMAL" ? h("span", { title: "the time limit stopped the search" },
        `${p.solver_status.toLowerCase()}, gap ${fmt(p.solver_gap, 2)}`) : null),
    h("ol", { class: "members" }, p.members.map((m) => member(m, aspects))),
    h("h3", {}, "Objective"), breakdown(p),
    rules(p));
}

function render(response) {
  const aspects = new Map(response.aspects.map((a) => [a.index, a.text]));
  const head = [
    h("p", { class: "meta" }, h("span", {}, response.programme), h("span", {}, response.action_type),
      response.call ? h("a", { href: `#/call/${encodeURIComponent(response.call)}` }, response.call) : null,
      h("span", {}, `${response.size[0]}–${response.size[1]} members`),
      response.profile_ref ? h("span", {}, `ranking profile ${response.profile_ref}`) : null),
    ...response.notes.map((note) => h("p", { class: "hint" }, note)),
  ];
  const aspectList = h("details", { class: "panel aspects" },
    h("summary", {}, `The ${response.aspects.length} aspects a consortium should cover`),
    h("ol", {}, response.aspects.map((a) => h("li", { value: a.index + 1 }, a.text))));
  const grid = h("div", { class: "alternatives" }, response.proposals.map((p) => proposal(p, aspects)));
  byId("cons-results").replaceChildren(h("div", { class: "panel" }, ...head), aspectList,
    response.proposals.length ? grid : h("p", {}, "No consortium meets the rules with these locks and exclusions."));
  refreshMemberButtons();
}
