// Institution page: identifiers and profile, strength per priority area, projects over time, main
// partners; the institution's owner (or an admin) can replace the profile text matching uses.

import { api } from "./api.js";
import { barChart, yearChart } from "./charts.js";
import { identifiers } from "./find.js";
import { clearMessage, h, setStatus, showMessage } from "./ui.js";

export async function showInstitution(id) {
  const body = document.getElementById("inst-body");
  const title = document.getElementById("inst-title");
  title.textContent = "Institution";
  body.replaceChildren(h("p", { role: "status" }, "Loading…"));
  let inst;
  try {
    inst = await api(`/institutions/${encodeURIComponent(id)}`);
  } catch (err) {
    body.replaceChildren(h("p", { class: "error" }, err.message));
    return;
  }
  title.textContent = inst.name;
  document.title = `${inst.name} · partnermatch`;
  const names = [inst.native_name, inst.legal_name, inst.short_name, ...inst.aliases]
    .filter((n) => n && n !== inst.name);
  body.replaceChildren(
    h("div", { class: "panel" },
      names.length ? h("p", { class: "native" }, [...new Set(names)].slice(0, 6).join(" · ")) : null,
      h("div", { class: "meta" }, h("span", {}, inst.country), inst.city && h("span", {}, inst.city), h("span", {}, inst.kind),
        h("span", {}, `${inst.n_projects} projects`), inst.domains.length ? h("span", {}, inst.domains.join(", ")) : null,
        !inst.has_research_evidence ? h("span", { class: "badge none" }, "no research evidence") : null),
      identifiers(inst),
      h("p", { class: "hint" }, `Sources: ${inst.provenance.join(", ")}`)),
    h("div", { class: "inst-grid" },
      h("div", { class: "panel" }, h("h2", {}, "Strength per priority area"),
        inst.area_strengths.length
          ? h("div", { class: "chart" }, barChart(inst.area_strengths.map((a) => ({ label: a.name, value: a.percentile })), {
            label: `Percentile of ${inst.name} per priority area`, format: (v) => `${Math.round(v * 100)}%`,
          }))
          : h("p", { class: "hint" }, "No research evidence: no area strengths."),
        h("p", { class: "hint" }, "Percentile among institutions with research evidence (90% = top tenth).")),
      h("div", { class: "panel" }, h("h2", {}, "Projects over time"),
        h("div", { class: "chart" }, yearChart(inst.projects_per_year, { label: `Projects of ${inst.name} per start year` })),
        h("p", { class: "hint" }, "Horizon Europe and H2020 projects by start year."))),
    h("div", { class: "inst-grid" },
      h("div", { class: "panel" }, h("h2", {}, "Main partners"),
        inst.partners.length
          ? h("ol", {}, inst.partners.map((p) => h("li", {},
            h("a", { href: `#/institution/${encodeURIComponent(p.id)}` }, p.name), ` (${p.country}) · ${p.n_shared} shared`)))
          : h("p", { class: "hint" }, "No co-participants in the catalogue.")),
      h("div", { class: "panel" }, h("h2", {}, "Recent projects"),
        inst.projects.length
          ? h("div", { class: "table-wrap" }, h("table", {},
            h("thead", {}, h("tr", {}, ["project", "programme", "start", "role"].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, inst.projects.slice(0, 15).map((p) => h("tr", {},
              h("td", {}, h("strong", {}, p.acronym || p.id), p.title ? ` — ${p.title}` : ""),
              h("td", {}, p.programme), h("td", {}, p.start_date || "–"), h("td", {}, p.role))))))
          : h("p", { class: "hint" }, "No projects."))),
    profilePanel(inst));
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
