// Officer view: a portfolio (POST /portfolios): partners for several requesters at once, chosen by country and
// area strength or by id, k each and no partner to more than c of them; one table per requester (its partners
// next to its own independent top k) and the spread of the load over partners and countries.

import { api } from "./api.js";
import { barChart } from "./charts.js";
import {
  busy, byId, clearMessage, fmt, h, instLink, institutionCombobox, numberOrNull, programmeOptions, setStatus, showMessage,
} from "./ui.js";

export function initPortfolio(catalogue) {
  byId("pf-programme").replaceChildren(...programmeOptions(catalogue.programmes));
  byId("pf-area").replaceChildren(...catalogue.areas.map((a) => h("option", { value: a.key }, a.name)));
  for (const radio of document.querySelectorAll("input[name=pf-mode]")) {
    radio.addEventListener("change", () => {
      const byIds = document.querySelector("input[name=pf-mode]:checked").value === "ids";
      byId("pf-select-fields").hidden = byIds;
      byId("pf-ids-fields").hidden = !byIds;
    });
  }
  const add = byId("pf-add");
  institutionCombobox(add, byId("pf-add-options"), {
    onChoose: (row) => {
      const ids = splitIds(byId("pf-ids").value);
      if (!ids.includes(row.id)) byId("pf-ids").value = [...ids, row.id].join(", ");
      add.value = "";
      setStatus("pf-status", `Added ${row.name} (${row.id}).`);
    },
  });
  byId("portfolio-form").addEventListener("submit", (event) => { event.preventDefault(); assign(); });
}

function splitIds(text) {
  return text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
}

/** The request from the form; a message and null when something needed is missing. */
function buildRequest() {
  const body = { programme: byId("pf-programme").value, k: numberOrNull("pf-k") ?? 5, c: numberOrNull("pf-c") ?? 2 };
  const cap = numberOrNull("pf-cap");
  if (cap !== null) body.max_per_country = cap;
  if (document.querySelector("input[name=pf-mode]:checked").value === "ids") {
    const ids = [...new Set(splitIds(byId("pf-ids").value))];
    if (!ids.length) {
      showMessage("Add the requesting institutions (search by name, or paste their ids), or choose them by area.");
      byId("pf-add").focus();
      return null;
    }
    body.requester_ids = ids;
  } else {
    body.select = { country: byId("pf-country").value.trim().toUpperCase(), area: byId("pf-area").value,
      n: numberOrNull("pf-n") ?? 5, kind: byId("pf-kind").value || null };
  }
  return body;
}

async function assign() {
  clearMessage();
  const body = buildRequest();
  if (!body) return;
  await busy(byId("pf-submit"), "pf-status", "Ranking each requester and assigning partners…", async () => {
    const response = await api("/portfolios", { method: "POST", body });
    render(response);
    setStatus("pf-status", `${response.requesters.length} requesters, ${response.spread.n_partners} partners `
      + `from ${response.spread.n_countries} countries.`);
  });
}

function partnerRows(partners, { withLoad }) {
  return partners.map((p, i) => h("tr", { "data-institution": p.institution.id },
    h("td", { class: "num" }, String(i + 1)), h("td", {}, instLink(p.institution.id, p.institution.name)),
    h("td", {}, p.institution.country), h("td", { class: "num" }, fmt(p.score)),
    h("td", { class: "num" }, String(p.own_rank)),
    withLoad ? h("td", { class: "num" }, String(p.load)) : null));
}

function partnerTable(caption, partners, { withLoad }) {
  return h("div", { class: "table-wrap" }, h("table", { class: withLoad ? "assigned" : "independent" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "num" }, "#"), h("th", { scope: "col" }, "Partner"),
      h("th", { scope: "col" }, "Country"), h("th", { scope: "col", class: "num" }, "Score"),
      h("th", { scope: "col", class: "num", title: "position in the requester's own ranking" }, "Own rank"),
      withLoad ? h("th", { scope: "col", class: "num", title: "requesters of the portfolio that got this partner" },
        "Shared by") : null)),
    h("tbody", {}, partners.length ? partnerRows(partners, { withLoad })
      : h("tr", {}, h("td", { colspan: withLoad ? 6 : 5 }, "none")))));
}

function requesterPanel(r) {
  const ratio = r.ratio === null ? "–" : `${(r.ratio * 100).toFixed(1)}%`;
  return h("section", { class: "panel requester", "data-requester": r.requester.id,
    "aria-labelledby": `pf-${r.requester.id}` },
  h("h3", { id: `pf-${r.requester.id}` }, instLink(r.requester.id, r.requester.name),
    ` (${r.requester.country}, ${r.requester.kind})`),
  h("p", { class: "meta" }, h("span", {}, `score ${fmt(r.total)} of ${fmt(r.independent_total)} alone (${ratio})`),
    h("span", {}, `${r.overlap} of its own top ${r.independent.length} kept`),
    h("span", {}, `${r.n_eligible} eligible`), h("span", {}, `countries: ${r.countries.join(", ") || "–"}`)),
  r.shortfall ? h("p", { class: "badge none" }, r.shortfall) : null,
  ...r.notes.map((note) => h("p", { class: "hint" }, note)),
  h("div", { class: "pf-pair" },
    partnerTable("Assigned partners", r.partners, { withLoad: true }),
    partnerTable("Its own top k (alone)", r.independent, { withLoad: false })));
}

function spread(response) {
  const names = new Map(response.requesters.map((r) => [r.requester.id, r.requester.name]));
  const s = response.spread;
  const countries = Object.entries(s.per_country).map(([label, value]) => ({ label, value }));
  return h("section", { class: "panel", id: "pf-spread", "aria-labelledby": "pf-spread-title" },
    h("h2", { id: "pf-spread-title" }, "Spread"),
    h("p", { class: "meta" }, h("span", {}, `${s.n_partners} partners`), h("span", {}, `most shared: ${s.max_load}`),
      h("span", { title: "0: every partner equally shared" }, `load Gini ${fmt(s.load_gini, 2)}`),
      h("span", {}, `${s.n_countries} countries`),
      s.mean_ratio !== null ? h("span", {}, `mean ratio ${fmt(s.mean_ratio)}, lowest ${fmt(s.min_ratio)}`) : null),
    h("h3", {}, "Load per partner"),
    h("div", { class: "table-wrap scroll" }, h("table", { id: "pf-load" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Partner"), h("th", { scope: "col" }, "Country"),
        h("th", { scope: "col", class: "num" }, "Requesters"), h("th", { scope: "col" }, "Given to"))),
      h("tbody", {}, response.partners.map((p) => h("tr", { "data-institution": p.institution.id },
        h("td", {}, instLink(p.institution.id, p.institution.name)), h("td", {}, p.institution.country),
        h("td", { class: "num" }, String(p.requester_ids.length)),
        h("td", {}, p.requester_ids.map((id) => names.get(id) || id).join("; "))))))),
    h("h3", {}, "Assignments per partner country"),
    countries.length ? h("div", { class: "chart" }, barChart(countries, {
      label: "Assignments per partner country", max: Math.max(...countries.map((c) => c.value)),
      format: (v) => String(v) })) : h("p", { class: "hint" }, "No partner assigned."));
}

function render(response) {
  const ratio = response.ratio === null ? "–" : `${(response.ratio * 100).toFixed(1)}%`;
  const summary = h("div", { class: "panel" },
    h("p", { class: "meta" }, h("span", {}, response.programme),
      response.areas.length ? h("span", {}, `areas: ${response.areas.join(", ")}`) : null,
      h("span", {}, `k ${response.k}, c ${response.c}`),
      h("span", {}, `per country ${response.max_per_country ?? "no cap"}`),
      response.profile_ref ? h("span", {}, `profile ${response.profile_ref}`) : null),
    h("p", {}, `Total score ${fmt(response.total)} of ${fmt(response.independent_total)} if every requester had its own `
      + `top ${response.k} (${ratio}); ${response.n_short} requester${response.n_short === 1 ? "" : "s"} short of k.`),
    ...response.notes.map((note) => h("p", { class: "hint" }, note)));
  byId("pf-results").replaceChildren(summary, h("h2", {}, "Per requester"),
    ...response.requesters.map(requesterPanel), spread(response));
}
