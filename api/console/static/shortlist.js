// The shortlist: kept in this browser's local storage; a status change to contacted / accepted /
// rejected is sent as feedback (POST /feedback) for the profile version that made the suggestion;
// export goes through POST /shortlists/export (CSV or Excel with the identifiers forms ask for).

import { api, download } from "./api.js";
import { clearMessage, fmt, h, instLink, setStatus, showMessage } from "./ui.js";

const STORAGE = "partnermatch.shortlist";
const STATUSES = ["shortlisted", "contacted", "accepted", "rejected"];

function load() {
  try { return JSON.parse(localStorage.getItem(STORAGE) || "[]"); } catch { return []; }
}

function save(items) {
  localStorage.setItem(STORAGE, JSON.stringify(items));
  document.getElementById("shortlist-count").textContent = String(items.length);
}

export function isShortlisted(institutionId, programme) {
  return load().some((item) => item.institution.id === institutionId && item.programme === programme);
}

export function addToShortlist(entry) {
  const items = load();
  if (items.some((i) => i.institution.id === entry.institution.id && i.programme === entry.programme)) return;
  items.push({ ...entry, status: "shortlisted", note: "", recorded: null });
  save(items);
}

export function initShortlist() {
  save(load());
  document.getElementById("export-csv").addEventListener("click", () => exportAs("csv"));
  document.getElementById("export-xlsx").addEventListener("click", () => exportAs("xlsx"));
  document.getElementById("shortlist-clear").addEventListener("click", () => {
    if (load().length && window.confirm("Remove every institution from the shortlist?")) {
      save([]);
      renderShortlist();
    }
  });
}

async function recordFeedback(index, status) {
  const items = load();
  const item = items[index];
  item.status = status;
  save(items);
  if (status === "shortlisted") return;
  if (!item.profile_version_id) {
    showMessage(`Not recorded as feedback: the suggestion of ${item.institution.name} has no profile version.`);
    return;
  }
  try {
    await api("/feedback", { method: "POST", body: {
      requester_id: item.requester_id, institution_id: item.institution.id, programme: item.programme,
      profile_version_id: item.profile_version_id, status, note: item.note || null,
    } });
    item.recorded = status;
    save(items);
    setStatus("shortlist-status", `Recorded: ${item.institution.name} ${status}.`);
    renderShortlist();
  } catch (err) {
    showMessage(`Feedback not recorded: ${err.message}`);
  }
}

async function exportAs(format) {
  clearMessage();
  const items = load();
  if (!items.length) { showMessage("The shortlist is empty: add partners from Find partners first."); return; }
  const one = (values) => (new Set(values).size === 1 ? values[0] : null);
  const body = {
    requester_id: one(items.map((i) => i.requester_id)),
    programme: one(items.map((i) => i.programme)),
    areas: [...new Set(items.flatMap((i) => i.areas || []))],
    items: items.map((i) => ({ institution_id: i.institution.id, score: i.score, status: i.status, note: i.note || null })),
  };
  try {
    setStatus("shortlist-status", `Preparing the ${format === "csv" ? "CSV" : "Excel"} file…`);
    const response = await api("/shortlists/export", { method: "POST", query: { format }, body, asBlob: true });
    await download(response, `partnermatch-shortlist.${format}`);
    setStatus("shortlist-status", `Exported ${items.length} partners as ${format === "csv" ? "CSV" : "Excel"}.`);
  } catch (err) {
    setStatus("shortlist-status", "");
    showMessage(err.message);
  }
}

export function renderShortlist() {
  const items = load();
  const body = document.querySelector("#shortlist-table tbody");
  if (!items.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 8 }, "Nothing yet: add partners from Find partners.")));
    return;
  }
  body.replaceChildren(...items.map((item, index) => {
    const inst = item.institution;
    const select = h("select", { "aria-label": `Status of ${inst.name}` },
      ...STATUSES.map((s) => h("option", { value: s, selected: s === item.status }, s)));
    select.addEventListener("change", () => recordFeedback(index, select.value));
    const note = h("input", { type: "text", value: item.note || "", "aria-label": `Note on ${inst.name}`, maxlength: 500 });
    note.addEventListener("change", () => { const all = load(); all[index].note = note.value; save(all); });
    const remove = h("button", { type: "button", "aria-label": `Remove ${inst.name}` }, "Remove");
    remove.addEventListener("click", () => { const all = load(); all.splice(index, 1); save(all); renderShortlist(); });
    return h("tr", { "data-institution": inst.id },
      h("td", {}, String(index + 1)),
      h("td", {}, instLink(inst.id, inst.name),
        h("div", { class: "hint" }, [inst.pic && `PIC ${inst.pic}`, inst.erasmus_code && `Erasmus ${inst.erasmus_code}`,
          inst.ror_id && `ROR ${inst.ror_id}`].filter(Boolean).join(" · "))),
      h("td", {}, inst.country),
      h("td", { class: "num" }, fmt(item.score)),
      h("td", {}, `${item.programme}${item.requester_name ? " · " + item.requester_name : ""}`),
      h("td", {}, select, item.recorded ? h("div", { class: "hint" }, `feedback: ${item.recorded}`) : null),
      h("td", {}, note),
      h("td", {}, remove));
  }));
}
