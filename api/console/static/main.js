// The console's entry point: the key box, the catalogue lists every view needs, and the hash router
// (#/find, #/shortlist, #/institution/<id>, #/calls, #/call/<topic id>, #/consortium[/<topic id>], #/portfolio,
// #/tune).

import { api, getKey, setKey } from "./api.js";
import { initCalls, showCall, showCalls } from "./calls.js";
import { initConsortium, showConsortium } from "./consortium.js";
import { initFind } from "./find.js";
import { showInstitution } from "./institution.js";
import { initPortfolio } from "./portfolio.js";
import { initShortlist, renderShortlist } from "./shortlist.js";
import { initTune, showTune } from "./tune.js";
import { clearMessage, showMessage } from "./ui.js";

async function showWhoAmI() {
  const status = document.getElementById("key-status");
  if (!getKey()) { status.textContent = "no key: catalogue pages only"; return; }
  try {
    const me = await api("/keys/me");
    status.textContent = `${me.name} (${me.role}${me.institution_id ? ", owner" : ""})`;
  } catch (err) {
    status.textContent = "";
    showMessage(err.message);
  }
}

function initKey() {
  const input = document.getElementById("api-key");
  input.value = getKey();
  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearMessage();
    setKey(input.value.trim());
    showWhoAmI();
    route();
  });
  showWhoAmI();
}

const VIEWS = ["find", "shortlist", "institution", "calls", "call", "consortium", "portfolio", "tune"];
const NAV_OF = { call: "calls" }; // a view reached from another one's page lights that one's link

function route() {
  // the rest of the hash is the argument: a call's topic id may hold a "/" where a link did not encode it
  const [, view = "find", ...rest] = window.location.hash.split("/");
  const arg = rest.join("/");
  const name = VIEWS.includes(view) ? view : "find";
  for (const v of VIEWS) document.getElementById(`view-${v}`).hidden = v !== name;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === (NAV_OF[name] || name)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = "partnermatch";
  if (name === "shortlist") renderShortlist();
  if (name === "institution" && arg) showInstitution(decodeURIComponent(arg));
  if (name === "tune") showTune();
  if (name === "calls") showCalls();
  if (name === "call" && arg) showCall(decodeURIComponent(arg));
  if (name === "consortium") showConsortium(arg ? decodeURIComponent(arg) : null);
}

async function start() {
  initKey();
  initShortlist();
  let catalogue;
  try {
    const [programmes, areas] = await Promise.all([api("/programmes"), api("/areas")]);
    // Horizon Europe first: the programme most requests are for (the rest keep the API's order)
    const order = (p) => (p.key === "horizon-europe" ? 0 : 1);
    catalogue = { programmes: [...programmes.data].sort((a, b) => order(a) - order(b)), areas: areas.data };
  } catch (err) {
    showMessage(err.message);
    catalogue = { programmes: [], areas: [] };
  }
  initFind(catalogue);
  initTune(catalogue);
  initCalls(catalogue);
  initConsortium(catalogue);
  initPortfolio(catalogue);
  window.addEventListener("hashchange", () => { clearMessage(); route(); });
  route();
  document.body.dataset.ready = "true";
}

start();
