// Institution page: identifiers and profile, strength per priority area (with the evidence behind the top
// areas), projects over time, the research evidence by type, known partnerships and main partners; the
// institution's owner (or an admin) can upload publications, projects and partnerships, remove what was
// imported and replace the profile text matching uses.

import { api, getKey, problemErrors, upload } from "./api.js";
import { barChart, yearChart } from "./charts.js";
import { identifiers } from "./find.js";
import { busy, clearMessage, h, httpUrl, instLink, setStatus, showMessage } from "./ui.js";

// Headings of the evidence groups, in the order shown (EU projects are listed under "Recent projects").
const EVIDENCE_TYPES = [
  ["eu_project", "EU projects", "EU project"],
  ["national_project", "National projects", "national project"],
  ["publication", "Publications", "publication"],
  ["research_unit", "Research units", "research unit"],
  ["research_field", "Research fields", "research field"],
  ["owner_profile", "Profile supplied by the institution", "owner profile"],
];
const TYPE_SINGULAR = Object.fromEntries(EVIDENCE_TYPES.map(([key, , one]) => [key, one]));
const PARTNERSHIP_TYPES = {
  branch_campus: "branch campus", dual_degree: "dual degree", mou: "memorandum of understanding",
  erasmus_cbhe: "Erasmus+ CBHE project", erasmus_mobility: "Erasmus+ mobility", joint_lab: "joint laboratory",
  joint_project: "joint project", other: "other",
};
// What each upload takes (the columns are those of the README's "Research evidence" section).
const UPLOAD_KINDS = {
  publications: {
    label: "Publications", accept: ".ris,.bib,.bibtex,.csv,.txt,.tsv,.json",
    hint: "An export of Scopus (CSV), Web of Science (tab-delimited), OpenAlex (works JSON) or a reference manager (RIS, BibTeX).",
  },
  projects: {
    label: "Projects", accept: ".csv,.json",
    hint: "CSV with a header row (; between list items) or a JSON list: title (required), code, abstract, keywords, "
      + "start_year, end_year, funder, partners, url.",
  },
  partnerships: {
    label: "Partnerships", accept: ".csv,.json",
    hint: "CSV with a header row or a JSON list: partner_name, partner_country (ISO code) and type (required); "
      + "partner_ror, partner_id, partner_website, year, description, url.",
  },
};
const PUBLICATION_FORMATS = [
  ["", "Detect from the file"], ["ris", "RIS (.ris)"], ["bibtex", "BibTeX (.bib)"], ["scopus_csv", "Scopus CSV export"],
  ["wos_tsv", "Web of Science tab-delimited (.txt)"], ["openalex_json", "OpenAlex works JSON"],
];
const SHOW_FIRST = 20; // long lists render this many rows until "show all" is pressed
const DOI = /^10\.\d{4,9}\/\S+$/;

let rendering = 0; // the latest showInstitution call; an older one that answers late draws nothing

/** Draw the page of institution `id`; `notice` ({id, text}) is written into that status region once drawn. */
export async function showInstitution(id, { notice } = {}) {
  const token = ++rendering;
  const body = document.getElementById("inst-body");
  const title = document.getElementById("inst-title");
  if (!notice) {  // a reload after an action keeps the page in place instead of flashing "Loading…"
    title.textContent = "Institution";
    body.replaceChildren(h("p", { role: "status" }, "Loading…"));
  }
  let inst;
  try {
    inst = await api(`/institutions/${encodeURIComponent(id)}`);
  } catch (err) {
    if (token === rendering) body.replaceChildren(h("p", { class: "error" }, err.message));
    return;
  }
  if (token !== rendering) return;
  title.textContent = inst.name;
  document.title = `${inst.name} · partnermatch`;
  const names = [inst.native_name, inst.legal_name, inst.short_name, ...inst.aliases]
    .filter((n) => n && n !== inst.name);
  body.replaceChildren(
    h("div", { class: "panel" },
      names.length ? h("p", { class: "native" }, [...new Set(names)].slice(0, 6).join(" · ")) : null,
      h("div", { class: "meta" }, h("span", {}, inst.country), inst.city && h("span", {}, inst.city), h("span", {}, inst.kind),
        h("span", {}, `${inst.n_projects} projects`), inst.domains.length ? h("span", {}, inst.domains.join(", ")) : null,
        levelBadge(inst)),
      identifiers(inst),
      h("p", { class: "hint" }, `Sources: ${inst.provenance.join(", ")}`)),
    h("div", { class: "inst-grid" },
      strengthsPanel(inst),
      h("div", { class: "panel" }, h("h2", {}, "Projects over time"),
        h("div", { class: "chart" }, yearChart(inst.projects_per_year, { label: `Projects of ${inst.name} per start year` })),
        h("p", { class: "hint" }, "Horizon Europe and H2020 projects by start year."))),
    evidencePanel(inst),
    partnershipsPanel(inst),
    h("div", { class: "inst-grid" },
      h("div", { class: "panel" }, h("h2", {}, "Main partners"),
        inst.partners.length
          ? h("ol", {}, inst.partners.map((p) => h("li", {},
            instLink(p.id, p.name), ` (${p.country}) · ${p.n_shared} shared`)))
          : h("p", { class: "hint" }, "No co-participants in the catalogue.")),
      h("div", { class: "panel" }, h("h2", {}, "Recent projects"),
        inst.projects.length
          ? h("div", { class: "table-wrap" }, h("table", {},
            h("thead", {}, h("tr", {}, ["project", "programme", "start", "role"].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, inst.projects.slice(0, 15).map((p) => h("tr", {},
              h("td", {}, h("strong", {}, p.acronym || p.id), p.title ? ` — ${p.title}` : ""),
              h("td", {}, p.programme), h("td", {}, p.start_date || "–"), h("td", {}, p.role))))))
          : h("p", { class: "hint" }, "No projects."))),
    uploadPanel(inst),
    profilePanel(inst));
  if (notice) {
    // written after the region is in the page, so that screen readers announce it as a change
    setTimeout(() => { if (document.getElementById(notice.id)) setStatus(notice.id, notice.text); }, 50);
  }
}

/** How the institution is known: a badge for "described" (web facts only) and "none"; nothing for research. */
function levelBadge(inst) {
  const level = inst.evidence_level || (inst.has_research_evidence ? "research" : "none");
  if (level === "described") {
    return h("span", { class: "badge described", title: "Known only from research fields and units named on public web pages" },
      "described from public web pages only: no project or publication record");
  }
  if (level === "none") return h("span", { class: "badge none" }, "no research evidence");
  return null;
}

/** The source of an item: an http(s) URL as a link opening a new tab, a file or record reference as text. */
function sourceNode(source) {
  if (!source) return null;
  const url = httpUrl(source);
  if (url) {
    return h("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "source", title: url },
      new URL(url).hostname.replace(/^www\./, ""));
  }
  const text = source.startsWith("file:") ? `file ${source.slice("file:".length)}` : source;
  return h("span", { class: "source file-source" }, text);
}

function externalId(value) {
  if (!value) return null;
  return DOI.test(value)
    ? h("a", { href: `https://doi.org/${value}`, target: "_blank", rel: "noopener noreferrer" }, `doi:${value}`)
    : h("span", {}, value);
}

/** `container` (a list or table body) with the first SHOW_FIRST of `items`, and a toggle for the rest; the rows
 * after the first ones are only built when asked for. */
function expandable(container, items, render, idBase) {
  container.id = `${idBase}-list`;
  container.append(...items.slice(0, SHOW_FIRST).map(render));
  if (items.length <= SHOW_FIRST) return { container, toggle: null };
  let expanded = false;
  const toggle = h("button", { type: "button", class: "link show-all", "aria-expanded": "false", "aria-controls": container.id },
    `Show all ${items.length}`);
  toggle.addEventListener("click", () => {
    expanded = !expanded;
    if (expanded) container.append(...items.slice(SHOW_FIRST).map(render));
    else while (container.children.length > SHOW_FIRST) container.lastElementChild.remove();
    toggle.textContent = expanded ? `Show the first ${SHOW_FIRST}` : `Show all ${items.length}`;
    toggle.setAttribute("aria-expanded", String(expanded));
  });
  return { container, toggle };
}

function removeButton(label, onClick) {
  return getKey() ? h("button", { type: "button", class: "danger small", "aria-label": `Remove ${label}`, onclick: onClick }, "Remove") : null;
}

/** Ask, delete, and redraw the page with `done` in the status region `statusId`. */
async function removeRow(inst, path, label, statusId) {
  if (!window.confirm(`Remove ${label} from ${inst.name}? Matching stops using it.`)) return;
  clearMessage();
  try {
    await api(path, { method: "DELETE" });
    showInstitution(inst.id, { notice: { id: statusId, text: `Removed ${label}.` } });
  } catch (err) {
    setStatus(statusId, err.message, { error: true });
  }
}

function evidenceItem(inst, item) {
  const label = `“${item.title}”`;
  return h("li", { "data-item": item.id, "data-type": item.type },
    h("span", { class: "ev-title" }, item.title),
    item.year ? ` (${item.year})` : "",
    h("span", { class: "ev-meta" },
      item.external_id ? [" · ", externalId(item.external_id)] : null,
      item.source ? [" · ", sourceNode(item.source)] : null,
      item.origin === "import" ? [" ", h("span", { class: "badge import" }, "imported")] : null),
    item.removable ? removeButton(label, () => removeRow(inst,
      `/institutions/${encodeURIComponent(inst.id)}/evidence/${encodeURIComponent(item.id)}`, label, "evidence-status")) : null);
}

function evidencePanel(inst) {
  const counts = inst.evidence_counts || {};
  const byType = new Map();
  for (const item of inst.evidence || []) {
    if (!byType.has(item.type)) byType.set(item.type, []);
    byType.get(item.type).push(item);
  }
  const groups = [];
  for (const [type, heading] of EVIDENCE_TYPES) {
    const items = byType.get(type) || [];
    const count = Math.max(counts[type] || 0, items.length);
    if (!count) continue;
    const shown = items.length < count && items.length ? ` (${count}, the ${items.length} most recent listed)` : ` (${count})`;
    const group = h("section", { class: "evidence-group", "data-type": type, "aria-labelledby": `ev-${type}-title` },
      h("h3", { id: `ev-${type}-title` }, heading, h("span", { class: "count" }, shown)));
    if (items.length) {
      const { container, toggle } = expandable(h("ul", { class: "evidence-list" }), items, (item) => evidenceItem(inst, item), `ev-${type}`);
      group.append(container);
      if (toggle) group.append(toggle);
    } else if (type === "eu_project") {
      group.append(h("p", { class: "hint" }, "Listed under “Recent projects”."));
    }
    groups.push(group);
  }
  return h("div", { class: "panel", id: "evidence" },
    h("h2", {}, "Research evidence"),
    h("p", { class: "hint" }, "What matching knows of this institution, by type, each with its source. "
      + "Research fields and units come from public web pages; imported items were added by the institution."),
    groups.length ? groups : h("p", { class: "hint" }, "No research evidence yet."),
    h("div", { id: "evidence-status", role: "status", "aria-live": "polite" }));
}

function partnerCell(p) {
  const name = p.partner_id
    ? instLink(p.partner_id, p.partner_name)
    : [p.partner_name, " ", h("small", { class: "hint" }, "(not in the catalogue)")];
  return h("td", {}, name, p.partner_country ? ` (${p.partner_country})` : "");
}

function partnershipRow(inst, p) {
  const label = `the partnership with ${p.partner_name}`;
  return h("tr", { "data-partnership": p.id },
    partnerCell(p),
    h("td", {}, PARTNERSHIP_TYPES[p.type] || p.type, p.origin === "import" ? [" ", h("span", { class: "badge import" }, "imported")] : null),
    h("td", {}, p.year ?? "–"),
    h("td", {}, sourceNode(p.source) || "–", p.description ? h("div", { class: "hint" }, p.description) : null),
    h("td", {}, p.removable ? removeButton(label, () => removeRow(inst,
      `/institutions/${encodeURIComponent(inst.id)}/partnerships/${encodeURIComponent(p.id)}`, label, "partnership-status")) : null));
}

function partnershipsPanel(inst) {
  const rows = inst.known_partnerships || [];
  const panel = h("div", { class: "panel", id: "partnerships" }, h("h2", {}, `Known partnerships (${rows.length})`));
  if (!rows.length) {
    panel.append(h("p", { class: "hint" }, "No known partnerships."));
  } else {
    const { container, toggle } = expandable(h("tbody", {}), rows, (p) => partnershipRow(inst, p), "partnerships");
    panel.append(h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "sr-only" }, `Known partnerships of ${inst.name}`),
      h("thead", {}, h("tr", {}, ["partner", "type", "year", "source"].map((c) => h("th", { scope: "col" }, c)),
        h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Remove")))),
      container)));
    if (toggle) panel.append(toggle);
  }
  panel.append(h("div", { id: "partnership-status", role: "status", "aria-live": "polite" }));
  return panel;
}

function strengthsPanel(inst) {
  const top = [...inst.area_strengths].sort((a, b) => b.percentile - a.percentile)
    .filter((a) => a.evidence && a.evidence.length).slice(0, 3);
  const pct = (v) => `${Math.round(v * 100)}%`;
  return h("div", { class: "panel", id: "strengths" }, h("h2", {}, "Strength per priority area"),
    inst.area_strengths.length
      ? h("div", { class: "chart" }, barChart(inst.area_strengths.map((a) => ({ label: a.name, value: a.percentile })), {
        label: `Percentile of ${inst.name} per priority area`, format: pct,
      }))
      : h("p", { class: "hint" }, "No research evidence: no area strengths."),
    h("p", { class: "hint" }, "Percentile among institutions with research evidence (90% = top tenth)."),
    top.length ? h("h3", {}, "What stands behind the top areas") : null,
    top.map((a) => h("div", { class: "area-evidence", "data-area": a.key },
      h("h4", {}, `${a.name} (${pct(a.percentile)})`),
      h("ul", { class: "evidence-list" }, a.evidence.slice(0, 5).map((e) => h("li", {},
        h("span", { class: "ev-type" }, `${TYPE_SINGULAR[e.type] || e.type}: `), e.title, e.year ? ` (${e.year})` : "",
        h("span", { class: "ev-meta" }, e.source ? [" · ", sourceNode(e.source)] : null,
          e.similarity !== null && e.similarity !== undefined ? ` · similarity ${Number(e.similarity).toFixed(2)}` : "")))))));
}

/** "Imported: 3 records read, …" from an ImportResult. */
function describeImport(r) {
  const dry = r.dry_run;
  const parts = [`${r.read} record${r.read === 1 ? "" : "s"} read`, `${r.duplicates_merged} duplicates merged`,
    `${r.added} ${dry ? "would be added" : "added"}`, `${r.updated} ${dry ? "would be updated" : "updated"}`, `${r.unchanged} unchanged`];
  let text = `${dry ? "Checked only, nothing saved" : "Imported"}: ${parts.join(", ")}.`;
  const matching = { updated: " Suggestions use them now.", updating: " Suggestions use them in a moment, once their texts are embedded.",
    unchanged: " Suggestions are unchanged." };
  if (!dry) text += matching[r.matcher] || "";
  if (r.institution_ids && r.institution_ids.length > 1) text += ` Institutions changed: ${r.institution_ids.join(", ")}.`;
  return text;
}

function uploadPanel(inst) {
  const kind = h("select", { id: "evidence-kind" },
    Object.entries(UPLOAD_KINDS).map(([value, { label }]) => h("option", { value }, label)));
  const format = h("select", { id: "evidence-format" }, PUBLICATION_FORMATS.map(([value, label]) => h("option", { value }, label)));
  const formatField = h("div", { class: "field" }, h("label", { for: "evidence-format" }, "Format"), format);
  const file = h("input", { type: "file", id: "evidence-file", accept: UPLOAD_KINDS.publications.accept, "aria-describedby": "evidence-file-hint" });
  const dryRun = h("input", { type: "checkbox", id: "evidence-dry-run" });
  const submit = h("button", { type: "submit", class: "primary" }, "Upload");
  const status = h("div", { id: "evidence-upload-status", role: "status", "aria-live": "polite" });
  const fileHint = h("small", { id: "evidence-file-hint", class: "hint" });
  const describeKind = () => {
    formatField.hidden = kind.value !== "publications";
    file.accept = UPLOAD_KINDS[kind.value].accept;
    fileHint.textContent = UPLOAD_KINDS[kind.value].hint;
  };
  kind.addEventListener("change", describeKind);
  describeKind();
  const form = h("form", { id: "evidence-form", novalidate: true },
    h("div", { class: "row" },
      h("div", { class: "field" }, h("label", { for: "evidence-kind" }, "What"), kind),
      formatField,
      h("div", { class: "field grow" }, h("label", { for: "evidence-file" }, "File"), file, fileHint)),
    h("label", { class: "inline" }, dryRun, " Check only (dry run)"),
    h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessage();
    status.classList.remove("error");
    if (!file.files.length) {
      setStatus("evidence-upload-status", "Choose a file first.", { error: true });
      return;
    }
    const query = { dry_run: dryRun.checked ? "true" : "false" };
    if (kind.value === "publications" && format.value) query.format = format.value;
    // an import's errors are listed in the upload's status region, next to the file they are about
    const showErrors = (err) => {
      const errors = problemErrors(err.problem);
      status.classList.add("error");
      status.replaceChildren(h("p", {}, err.message),
        errors.length ? h("ul", { id: "evidence-upload-errors" }, errors.map((e) => h("li", {}, e))) : null);
    };
    await busy(submit, "evidence-upload-status", dryRun.checked ? "Checking…" : "Uploading…", async () => {
      const result = await upload(`/institutions/${encodeURIComponent(inst.id)}/${kind.value}`, file.files[0], { query });
      const text = describeImport(result);
      if (result.dry_run) setStatus("evidence-upload-status", text);
      else showInstitution(inst.id, { notice: { id: "evidence-upload-status", text } });
    }, { onError: showErrors });
  });
  return h("div", { class: "panel", id: "add-evidence" },
    h("h2", {}, "Add evidence"),
    h("p", { class: "hint" }, "Needs this institution's owner key or an admin key. An import is all or nothing: "
      + "a file with an error changes nothing and every error is listed. ",
    h("a", { href: "/docs#/evidence", target: "_blank", rel: "noopener" }, "API documentation")),
    form,
    status);
}

function profilePanel(inst) {
  const text = h("textarea", { id: "profile-text", rows: 6, maxlength: 20000 });
  text.value = inst.profile_source === "owner" ? inst.profile : "";
  const form = h("form", { id: "profile-form", novalidate: true },
    h("label", { for: "profile-text" }, "Updated profile text (research strengths, labs, recent projects)"),
    text,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Submit updated profile"),
      inst.profile_source === "owner" ? h("button", { type: "button", id: "profile-revert" }, "Revert to the derived profile") : null));
  const panel = h("div", { class: "panel" },
    h("h2", {}, "Profile used for matching"),
    h("p", { class: "hint" }, inst.profile_source === "owner"
      ? `Supplied by the institution (updated ${inst.profile_owner_updated}).`
      : "Derived from the institution's project texts."),
    h("div", { class: "profile-text" }, inst.profile || "(empty)"),
    h("h3", {}, "Submit an updated profile"),
    h("p", { class: "hint" }, "Needs this institution's owner key or an admin key."),
    form,
    h("div", { id: "profile-status", role: "status", "aria-live": "polite" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessage();
    try {
      await api(`/institutions/${encodeURIComponent(inst.id)}/profile`, { method: "PUT", body: { text: text.value } });
      setStatus("profile-status", "Saved. Matching uses the new profile once the index is rebuilt (a few seconds).");
      showInstitution(inst.id);
    } catch (err) {
      showMessage(err.message);
    }
  });
  panel.querySelector("#profile-revert")?.addEventListener("click", async () => {
    clearMessage();
    try {
      await api(`/institutions/${encodeURIComponent(inst.id)}/profile`, { method: "DELETE" });
      showInstitution(inst.id);
    } catch (err) {
      showMessage(err.message);
    }
  });
  return panel;
}
