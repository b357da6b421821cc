// The HTTP API as the console uses it: one fetch wrapper (JSON calls and file uploads) that sends the user's
// key and turns every problem document (RFC 9457) into an ApiError whose message says what went wrong.

const KEY_STORAGE = "partnermatch.key";

export class ApiError extends Error {
  constructor(status, detail, problem) {
    super(detail);
    this.status = status;
    this.problem = problem;
  }
}

export function getKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function setKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

/** What a failed response means for a person: the problem's detail, with a hint for missing keys. */
function describe(status, problem) {
  const detail = (problem && (problem.detail || problem.title)) || `The service answered ${status}.`;
  if (status === 401) return `${detail} Enter an API key at the top of the page.`;
  if (status === 403) return `${detail} Your key's role does not allow this.`;
  if (status === 503) return `${detail} The service is still starting; try again in a moment.`;
  return detail;
}

function urlFor(path, query) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, item);
  }
  return url;
}

/** Fetch with the user's key; a failed response becomes an ApiError (its `problem` keeps e.g. `errors`). */
async function send(url, { method, headers, body, asBlob, signal }) {
  const key = getKey();
  if (key) headers["X-API-Key"] = key;
  let response;
  try {
    response = await fetch(url, { method, headers, body, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "The service cannot be reached. Is `partnermatch serve` running?", null);
  }
  if (!response.ok) {
    let problem = null;
    try { problem = await response.json(); } catch { /* not JSON: keep the status */ }
    throw new ApiError(response.status, describe(response.status, problem), problem);
  }
  if (asBlob) return response;
  return response.status === 204 ? null : response.json();
}

/** Call the API; resolves to parsed JSON (or a Blob when `asBlob`), rejects with an ApiError. */
export async function api(path, { method = "GET", body, query, asBlob = false, signal } = {}) {
  const headers = { Accept: asBlob ? "*/*" : "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return send(urlFor(path, query), {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), asBlob, signal,
  });
}

/** POST one file as multipart/form-data (field `field`, "file" by default); resolves to the parsed JSON.
 * The browser writes the Content-Type with its boundary, so none is set here. */
export async function upload(path, file, { query, field = "file", signal } = {}) {
  const form = new FormData();
  form.append(field, file, file.name);
  return send(urlFor(path, query), { method: "POST", headers: { Accept: "application/json" }, body: form, signal });
}

/** Every message of a problem's `errors`: strings as they are, validation errors as "where: what". */
export function problemErrors(problem) {
  const errors = (problem && Array.isArray(problem.errors)) ? problem.errors : [];
  return errors.map((e) => {
    if (typeof e === "string") return e;
    const where = Array.isArray(e && e.loc) ? e.loc.filter((part) => part !== "body").join(".") : "";
    const what = (e && (e.msg || e.message)) || JSON.stringify(e);
    return where ? `${where}: ${what}` : what;
  });
}

/** Save a download response (from `api(..., {asBlob: true})`) under the name the service gave it. */
export async function download(response, fallbackName) {
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = match ? match[1] : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
