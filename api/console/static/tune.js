// Officer view: sliders for the component weights, λ, the tie preference and the per-country cap; the
// ranking for a chosen requester and the validation estimate follow the sliders; what-if over every
// Kazakh university; save as a new version, publish, roll back.

import { api } from "./api.js";
import { lineChart } from "./charts.js";
import {
  COMPONENT_LABELS, COMPONENTS, clearMessage, debounce, fmt, h, institutionCombobox, programmeOptions, setStatus,
  showMessage,
} from "./ui.js";

const METRICS = ["ndcg@10", "recall@10", "recall@50", "mrr"];
const state = { catalogue: null, profile: null, requester: null, baseline: null, ready: false };

export function initTune(catalogue) {
  state.catalogue = catalogue;
  const programmes = document.getElementById("tune-programme");
  programmes.replaceChildren(...programmeOptions(catalogue.programmes));
  document.getElementById("tune-area").append(...catalogue.areas.map((a) => h("option", { value: a.key }, a.name)));
  document.getElementById("sliders").append(...COMPONENTS.map((name) => h("div", { class: "slider" },
    h("label", { for: `w-${name}` }, COMPONENT_LABELS[name]),
    h("input", { id: `w-${name}`, type: "range", min: 0, max: 1, step: 0.01, "data-component": name }),
    h("output", { id: `w-${name}-out`, for: `w-${name}` }))));
  document.getElementById("sweep-component").replaceChildren(
    ...COMPONENTS.map((name) => h("option", { value: name }, COMPONENT_LABELS[name])));
  document.getElementById("sweep-metric").replaceChildren(...METRICS.map((m) => h("option", { value: m }, m)));

  const form = document.getElementById("tune-form");
  form.addEventListener("input", (event) => {
    if (event.target.id === "tune-requester") return;
    showOutputs();
    if (!state.ready) return;
    if (event.target.id === "tune-area") state.baseline = null;
    previewSoon();
    if (event.target.type === "range" || event.target.name === "ties") metricsSoon();
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  programmes.addEventListener("change", () => loadProgramme());
  document.getElementById("tune-reset").addEventListener("click", () => { setSliders(state.profile); refreshAll(); });
  institutionCombobox(document.getElementById("tune-requester"), document.getElementById("tune-requester-options"), {
    onChoose: (row) => {
      state.requester = row;
      state.baseline = null;
      document.getElementById("tune-requester-chosen").textContent = `${row.name} (${row.country})`;
      preview();
    },
    onClear: () => { state.requester = null; },
  });
  document.getElementById("sweep-run").addEventListener("click", sweep);
  document.getElementById("whatif-run").addEventListener("click", whatIf);
  document.getElementById("save-form").addEventListener("submit", (event) => { event.preventDefault(); saveVersion(); });
}

/** Called when the view is shown: (re)load the programme's published profile. */
export async function showTune() {
  if (!state.profile) await loadProgramme();
}

function sliderValues() {
  const weights = Object.fromEntries(COMPONENTS.map((name) => [name, Number(document.getElementById(`w-${name}`).value)]));
  const cap = document.getElementById("w-cap").value;
  return {
    weights,
    mmr_lambda: Number(document.getElementById("w-lambda").value),
    ties: document.querySelector("#tune-form input[name=ties]:checked")?.value || "neutral",
    max_per_country: cap ? Number(cap) : null,
  };
}

function showOutputs() {
  const { weights, mmr_lambda: lambda } = sliderValues();
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  for (const name of COMPONENTS) {
    const share = total > 0 ? weights[name] / total : 0;
    document.getElementById(`w-${name}-out`).textContent = `${Math.round(share * 100)}%`;
  }
  document.getElementById("w-lambda-out").textContent = lambda.toFixed(2);
}

function setSliders(version) {
  for (const name of COMPONENTS) document.getElementById(`w-${name}`).value = version.weights[name] ?? 0;
  document.getElementById("w-lambda").value = version.mmr_lambda;
  document.getElementById("w-cap").value = version.max_per_country ?? "";
  for (const radio of document.querySelectorAll("#tune-form input[name=ties]")) radio.checked = radio.value === version.ties;
  showOutputs();
}

async function loadProgramme() {
  clearMessage();
  state.ready = false;
  state.profile = null;
  state.baseline = null;
  const programme = document.getElementById("tune-programme").value;
  try {
    const profiles = await api("/weights");
    const listing = profiles.data.find((p) => p.programme === programme && p.published_version)
      || profiles.data.find((p) => p.programme === programme);
    if (!listing) { showMessage(`No weight profile exists for ${programme}.`); return; }
    const version = listing.published_version || listing.version;
    state.profile = await api(`/weights/${listing.name}/versions/${version}`);
  } catch (err) {
    showMessage(err.message);
    return;
  }
  document.getElementById("tune-profile").textContent =
    `${state.profile.name} version ${state.profile.version}${state.profile.published ? " (published)" : ""}`;
  setSliders(state.profile);
  state.ready = true;
  refreshAll();
  loadHistory();
}

function refreshAll() {
  preview();
  metrics();
}

const previewSoon = debounce(() => preview(), 250);
const metricsSoon = debounce(() => metrics(), 500);

function previewRequest(overrides) {
  const area = document.getElementById("tune-area").value;
  return {
    requester_id: state.requester.id, programme: state.profile.programme, areas: area ? [area] : [], k: 10,
    profile: `${state.profile.name}:${state.profile.version}`, ...overrides,
  };
}

async function preview() {
  const list = document.getElementById("tune-ranking");
  if (!state.ready) return;
  if (!state.requester) { setStatus("tune-status", "Choose a requester to see its ranking move with the sliders."); return; }
  const values = sliderValues();
  if (!Object.values(values.weights).some((w) => w > 0)) { setStatus("tune-status", "At least one weight must be above 0.", { error: true }); return; }
  setStatus("tune-status", "Ranking…");
  try {
    if (!state.baseline) state.baseline = await api("/suggestions", { method: "POST", body: previewRequest({}) });
    const body = previewRequest({ weights: values.weights, mmr_lambda: values.mmr_lambda, ties: values.ties,
      ...(values.max_per_country ? { max_per_country: values.max_per_country } : {}) });
    const response = await api("/suggestions", { method: "POST", body });
    const before = new Map(state.baseline.data.map((s) => [s.institution.id, s.rank]));
    list.replaceChildren(...response.data.map((s) => {
      const old = before.get(s.institution.id);
      const delta = old === undefined ? h("span", { class: "delta better" }, "new")
        : old === s.rank ? null : h("span", { class: `delta ${old > s.rank ? "better" : "worse"}` }, `${old > s.rank ? "▲" : "▼"}${Math.abs(old - s.rank)}`);
      return h("li", { "data-institution": s.institution.id }, `${s.institution.name} (${s.institution.country}) `,
        h("small", {}, fmt(s.score)), delta);
    }));
    setStatus("tune-status", `Top ${response.data.length} for ${state.requester.name}; arrows: change against ${state.profile.name}:${state.profile.version}.`);
  } catch (err) {
    setStatus("tune-status", "");
    showMessage(err.message);
  }
}

async function metrics() {
  if (!state.ready) return;
  const values = sliderValues();
  if (!Object.values(values.weights).some((w) => w > 0)) return;
  setStatus("metrics-status", "Estimating on the validation sample… (the first time takes a little longer)");
  try {
    const result = await api("/weights/estimate", { method: "POST", body: {
      programme: state.profile.programme, weights: values.weights, ties: values.ties, sweep: null } });
    const published = result.published?.metrics || {};
    document.getElementById("metrics-published-head").textContent = result.published ? `published (${result.published.profile})` : "published";
    document.querySelector("#metrics-table tbody").replaceChildren(...METRICS.map((m) => {
      const now = result.metrics[m], then = published[m];
      const cls = then === undefined || Math.abs(now - then) < 5e-4 ? "" : now > then ? "better" : "worse";
      return h("tr", { "data-metric": m }, h("th", { scope: "row" }, m),
        h("td", { class: `num ${cls}` }, fmt(now, 4)), h("td", { class: "num" }, fmt(then, 4)));
    }));
    document.getElementById("metrics-note").textContent =
      `${result.sample.n_queries} ${result.sample.task.replace("_", "-")} queries, projects starting ${result.sample.cutoff} to ${result.sample.until}. ${result.sample.note}`;
    setStatus("metrics-status", `Estimated in ${result.seconds.toFixed(2)} s.`);
  } catch (err) {
    setStatus("metrics-status", "");
    showMessage(err.message);
  }
}

async function sweep() {
  if (!state.ready) return;
  const component = document.getElementById("sweep-component").value;
  const metric = document.getElementById("sweep-metric").value;
  const values = sliderValues();
  const chart = document.getElementById("sweep-chart");
  chart.replaceChildren(h("p", { role: "status" }, "Drawing…"));
  try {
    const result = await api("/weights/estimate", { method: "POST", body: {
      programme: state.profile.programme, weights: values.weights, ties: values.ties,
      sweep: { component, metric, steps: 11 } } });
    chart.replaceChildren(lineChart(result.sweep.points.map((p) => ({ x: p.weight, y: p.value })), {
      label: `${metric} as the ${COMPONENT_LABELS[component]} weight moves, other weights fixed`,
      xLabel: `${COMPONENT_LABELS[component]} weight`, yLabel: metric, markX: values.weights[component],
    }));
  } catch (err) {
    chart.replaceChildren();
    showMessage(err.message);
  }
}

async function whatIf() {
  if (!state.ready) return;
  clearMessage();
  const area = document.getElementById("tune-area").value;
  const out = document.getElementById("whatif");
  setStatus("whatif-status", "Ranking every Kazakh university twice…");
  try {
    const report = await api("/weights/what-if", { method: "POST", body: {
      a: `${state.profile.name}:${state.profile.version}`, b: { programme: state.profile.programme, ...sliderValues() },
      areas: area ? [area] : [], k: 10 } });
    const r = report.rankings;
    setStatus("whatif-status", "");
    out.replaceChildren(
      h("p", {}, `${r.n_requesters} Kazakh universities, top ${r.k}: on average ${Math.round(r.mean_overlap * 100)}% of each shortlist stays`
        + (r.mean_rank_correlation !== null ? `, rank correlation ${fmt(r.mean_rank_correlation, 2)}.` : ".")),
      h("div", { class: "table-wrap scroll" }, h("table", { id: "whatif-table" },
        h("thead", {}, h("tr", {}, ["requester", "overlap", "entered", "left"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, [...r.requesters].sort((a, b) => a.overlap - b.overlap).map((c) => h("tr", {},
          h("td", {}, c.requester_name), h("td", { class: "num" }, `${Math.round(c.overlap * 100)}%`),
          h("td", {}, names(c.entered)), h("td", {}, names(c.left))))))));
  } catch (err) {
    setStatus("whatif-status", "");
    showMessage(err.message);
  }
}

/** At most three names, then how many more (the full lists are in the API's answer). */
function names(list) {
  if (!list.length) return "–";
  return list.slice(0, 3).join("; ") + (list.length > 3 ? ` and ${list.length - 3} more` : "");
}

async function saveVersion() {
  clearMessage();
  const comment = document.getElementById("save-comment").value.trim();
  if (!comment) { showMessage("Write a comment saying why you change the weights (it is kept in the history)."); return; }
  const values = sliderValues();
  try {
    const row = await api(`/weights/${state.profile.name}`, { method: "PATCH", body: { ...values, comment } });
    setStatus("save-status", `Saved as version ${row.version} (not published yet).`);
    document.getElementById("save-comment").value = "";
    loadHistory();
  } catch (err) {
    showMessage(err.message);
  }
}

async function publish(version) {
  clearMessage();
  try {
    await api(`/weights/${state.profile.name}/versions/${version}/publish`, { method: "POST" });
    setStatus("save-status", `Version ${version} is published: suggestions for ${state.profile.programme} use it now.`);
    state.profile = null;
    await loadProgramme();
  } catch (err) {
    showMessage(err.message);
  }
}

async function rollback(version) {
  clearMessage();
  const comment = window.prompt(`Why roll back to version ${version}?`, `roll back to version ${version}`);
  if (!comment) return;
  try {
    const row = await api(`/weights/${state.profile.name}/rollback`, { method: "POST", body: { to_version: version, comment } });
    setStatus("save-status", `Rolled back: version ${row.version} (equal to ${version}) is published.`);
    state.profile = null;
    await loadProgramme();
  } catch (err) {
    showMessage(err.message);
  }
}

async function loadHistory() {
  const body = document.querySelector("#history tbody");
  try {
    const versions = await api(`/weights/${state.profile.name}/versions`);
    const published = versions.data.find((v) => v.published)?.version ?? Infinity;
    body.replaceChildren(...[...versions.data].reverse().map((v) => {
      const total = Object.values(v.weights).reduce((a, b) => a + b, 0) || 1;
      return h("tr", { "data-version": v.version },
        h("td", {}, String(v.version)),
        h("td", {}, new Date(v.created).toLocaleString()),
        h("td", {}, v.author),
        h("td", {}, v.comment || "–"),
        h("td", {}, (v.kind === "learned"
          ? `learned ranker (LightGBM, model ${v.provenance?.model_id ?? "?"}; validation nDCG@10 `
            + `${v.metrics?.project_idea?.hybrid?.all?.["ndcg@10"] ?? "not yet measured"})`
          : COMPONENTS.map((c) => `${COMPONENT_LABELS[c]} ${Math.round(((v.weights[c] || 0) / total) * 100)}%`).join(", "))
          + `; λ ${v.mmr_lambda}; ties ${v.ties}`),
        h("td", {}, v.published ? h("strong", {}, "published") : "–"),
        h("td", {},
          v.kind === "learned" ? null : h("button", { type: "button", onclick: () => { setSliders(v); refreshAll(); } , "aria-label": `Load version ${v.version} into the sliders` }, "Load"),
          v.published ? null : h("button", { type: "button", onclick: () => publish(v.version), "aria-label": `Publish version ${v.version}` }, "Publish"),
          v.version < published ? h("button", { type: "button", onclick: () => rollback(v.version), "aria-label": `Roll back to version ${v.version}` }, "Roll back") : null));
    }));
  } catch (err) {
    showMessage(err.message);
  }
}
