// Office view: choose a requester (or paste an idea), programme, areas and filters; show the ranked,
// explained suggestions as cards that can be added to the shortlist.

import { api } from "./api.js";
import { addToShortlist, isShortlisted } from "./shortlist.js";
import {
  COMPONENT_LABELS, COMPONENTS, busy, clearMessage, fmt, h, httpUrl, instLink, institutionCombobox, programmeOptions,
  setStatus, showMessage,
} from "./ui.js";

const KINDS = ["university", "research", "company", "public", "other"];
let requester = null; // the chosen catalogue institution
let lastRequest = null;

export async function initFind(catalogue) {
  const form = document.getElementById("find-form");
  document.getElementById("programme").replaceChildren(...programmeOptions(catalogue.programmes));
  document.getElementById("areas").append(...catalogue.areas.map((a) => h("label", {},
    h("input", { type: "checkbox", name: "area", value: a.key }), a.name)));
  document.getElementById("kinds").append(...KINDS.map((kind) => h("label", {},
    h("input", { type: "checkbox", name: "kind", value: kind }), kind)));

  for (const radio of form.querySelectorAll("input[name=mode]")) {
    radio.addEventListener("change", () => {
      const byText = form.querySelector("input[name=mode]:checked").value === "text";
      document.getElementById("idea-field").hidden = !byText;
      document.getElementById("requester-field").hidden = byText;
    });
  }
  const chosen = document.getElementById("requester-chosen");
  institutionCombobox(document.getElementById("requester"), document.getElementById("requester-options"), {
    onChoose: (row) => {
      requester = row;
      chosen.replaceChildren(`Chosen: ${row.name} (${row.country}) · `,
        instLink(row.id, "institution page"));
    },
    onClear: () => { requester = null; chosen.textContent = ""; },
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); find(); });
}

function splitList(text) {
  return text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
}

/** The request body from the form; a message and null when something needed is missing. */
function buildRequest() {
  const form = document.getElementById("find-form");
  const byText = form.querySelector("input[name=mode]:checked").value === "text";
  const body = {
    programme: document.getElementById("programme").value,
    areas: [...form.querySelectorAll("input[name=area]:checked")].map((i) => i.value),
    k: Number(document.getElementById("k").value || 10),
    new_partners_only: document.getElementById("new-only").checked,
  };
  if (byText) {
    const text = document.getElementById("idea").value.trim();
    if (!text) { showMessage("Describe the project idea or paste a profile text, or choose an institution."); return null; }
    body.text = text;
  } else {
    if (!requester) {
      showMessage("Choose the requesting institution from the list that appears as you type (or switch to a project idea).");
      document.getElementById("requester").focus();
      return null;
    }
    body.requester_id = requester.id;
  }
  const countries = splitList(document.getElementById("countries").value).map((c) => c.toUpperCase());
  if (countries.length) body.countries = countries;
  const region = document.getElementById("region").value;
  if (region) body.regions = [region];  // with countries: candidates in either
  const exclude = splitList(document.getElementById("exclude").value);
  if (exclude.length) body.exclude = exclude;
  const kinds = [...form.querySelectorAll("input[name=kind]:checked")].map((i) => i.value);
  if (kinds.length) body.kinds = kinds;
  return body;
}

async function find() {
  clearMessage();
  const body = buildRequest();
  if (!body) return;
  await busy(document.getElementById("find-submit"), "find-status", "Scoring candidates…", async () => {
    const response = await api("/suggestions", { method: "POST", body });
    lastRequest = body;
    renderResults(response);
    setStatus("find-status", `${response.data.length} suggestions from ${response.n_eligible} eligible candidates.`);
  });
}

/** The score as a bar of component contributions (they sum to the score). */
export function contributionBar(components, score) {
  const parts = components.filter((c) => c.contribution > 0);
  const bar = h("div", { class: "stack", role: "img",
    "aria-label": `score ${fmt(score)}: ` + parts.map((c) => `${COMPONENT_LABELS[c.name]} ${fmt(c.contribution)}`).join(", ") },
  ...parts.map((c) => h("span", {
    style: `width:${(c.contribution * 100).toFixed(2)}%;background:var(--c-${c.name})`,
    title: `${COMPONENT_LABELS[c.name]}: value ${fmt(c.value)} × weight ${fmt(c.weight)} = ${fmt(c.contribution)}`,
  })));
  return bar;
}

export function legend() {
  return h("div", { class: "legend", "aria-hidden": "true" },
    ...COMPONENTS.map((name) => h("span", {}, h("i", { style: `background:var(--c-${name})` }), COMPONENT_LABELS[name])));
}

export function identifiers(inst) {
  const website = inst.website && httpUrl(inst.website); // only http(s) becomes a link
  return h("div", { class: "ids" },
    inst.pic && h("span", {}, "PIC ", h("strong", {}, inst.pic)),
    inst.erasmus_code && h("span", {}, "Erasmus ", h("strong", {}, inst.erasmus_code)),
    inst.ror_id && h("a", { href: `https://ror.org/${encodeURIComponent(inst.ror_id)}`, target: "_blank", rel: "noopener" }, `ROR ${inst.ror_id}`),
    website && h("a", { href: website, target: "_blank", rel: "noopener noreferrer" }, "website"));
}

function projectItem(p) {
  return h("li", {}, h("strong", {}, p.acronym || p.id), p.year ? ` (${p.year})` : "", p.title ? ` — ${p.title}` : "",
    p.similarity !== null && p.similarity !== undefined ? h("small", {}, ` · similarity ${fmt(p.similarity, 2)}`) : "");
}

function evidence(ev) {
  const sections = [];
  if (ev.matching_projects.length) {
    sections.push(h("h3", {}, "Projects that match the request"), h("ul", {}, ev.matching_projects.map(projectItem)));
  }
  if (ev.keywords.length) sections.push(h("h3", {}, "Keywords"), h("p", {}, ev.keywords.join(", ")));
  if (ev.strong_areas.length) {
    sections.push(h("h3", {}, "Strong in"), h("ul", {}, ev.strong_areas.map((a) =>
      h("li", {}, `${a.name}: more than ${Math.round(a.percentile * 100)}% of institutions with research evidence`))));
  }
  if (ev.shared_partners.length) {
    sections.push(h("h3", {}, `Shared partners (${ev.n_shared_partners})`), h("ul", {}, ev.shared_partners.map((p) =>
      h("li", {}, p.id ? instLink(p.id, p.name) : p.name))));
  }
  if (ev.joint_projects.length) {
    sections.push(h("h3", {}, `Joint projects with the requester (${ev.n_joint_projects})`),
      h("ul", {}, ev.joint_projects.map(projectItem)));
  }
  if (!sections.length) sections.push(h("p", { class: "hint" }, "No project evidence for this request."));
  return h("details", { class: "evidence" }, h("summary", {}, "Evidence"), ...sections);
}

/** A suggestion's card. `idPrefix` keeps element ids unique between pages; `requesterLabel` names a requester
 * that is no catalogue institution on the shortlist (a project idea, a call). */
export function card(s, response, { idPrefix = "card", requesterLabel = lastRequest?.text ? "project idea" : null } = {}) {
  const inst = s.institution;
  const addButton = h("button", { type: "button", class: "add" }, "Add to shortlist");
  const refresh = () => {
    const listed = isShortlisted(inst.id, response.programme);
    addButton.textContent = listed ? "On the shortlist" : "Add to shortlist";
    addButton.disabled = listed;
  };
  addButton.addEventListener("click", () => {
    addToShortlist({
      institution: inst, score: s.score, programme: response.programme, areas: response.areas,
      requester_id: response.requester?.id ?? null,
      requester_name: response.requester?.name ?? requesterLabel,
      profile_version_id: response.profile_version_id ?? null,
    });
    refresh();
  });
  refresh();
  return h("article", { class: "card", "data-institution": inst.id, "aria-labelledby": `${idPrefix}-${inst.id}` },
    h("header", {},
      h("span", { class: "rank" }, `#${s.rank}`),
      h("h2", { id: `${idPrefix}-${inst.id}` }, instLink(inst.id, inst.name)),
      inst.native_name && inst.native_name !== inst.name ? h("span", { class: "native", lang: "" }, inst.native_name) : null,
      !s.has_research_evidence ? h("span", { class: "badge none" }, "no research evidence") : null,
      s.existing_partner ? h("span", { class: "badge tie" }, "existing partner") : null),
    h("div", { class: "meta" }, h("span", {}, inst.country), inst.city && h("span", {}, inst.city), h("span", {}, inst.kind)),
    identifiers(inst),
    h("div", { class: "score" }, h("strong", {}, fmt(s.score)), contributionBar(s.components, s.score)),
    h("ul", { class: "reasons" }, s.reasons.map((r) => h("li", {}, r))),
    evidence(s.evidence),
    h("div", { class: "actions" }, addButton));
}

function renderResults(response) {
  const results = document.getElementById("results");
  const head = [];
  if (response.requester && !response.requester_has_research_evidence) {
    head.push(h("p", { class: "badge none" }, `${response.requester.name} has no research evidence in the catalogue: `
      + "thematic and complementarity scores use what little is known."));
  }
  for (const note of response.notes) head.push(h("p", { class: "hint" }, note));
  if (response.data.length) head.push(legend());
  else head.push(h("p", {}, "No eligible candidate matches these filters."));
  results.replaceChildren(...head, ...response.data.map((s) => card(s, response)));
}
