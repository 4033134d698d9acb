// fetch() for the API. A server started with ARTICLECHAT_API_KEY answers 401 to a request without the key:
// the reader is asked for it once, it is kept for this tab (sessionStorage) and sent with every request
// from then on.
import { $ } from "./dom.js";

const KEY_STORAGE = "articlechat.apikey";
let keyQuestion = null; // the open key dialog, shared by the requests refused meanwhile

function withKey(options) {
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (!key) return options;
  const headers = new Headers(options.headers);
  headers.set("Authorization", `Bearer ${key}`);
  return { ...options, headers };
}

// With the key once there is one; a 401 asks for it, then the request is sent again.
export async function api(url, options = {}) {
  const sent = sessionStorage.getItem(KEY_STORAGE);
  const response = await fetch(url, withKey(options));
  if (response.status !== 401) return response;
  if (sessionStorage.getItem(KEY_STORAGE) === sent) { // no other request got a key meanwhile
    const key = await askForKey(sent ? "The server did not accept the key: check it and enter it again."
      : "This server asks for its API key (ARTICLECHAT_API_KEY, set by whoever runs it).");
    if (!key) return response; // cancelled: the caller shows the server's message
    sessionStorage.setItem(KEY_STORAGE, key);
  }
  const retried = await fetch(url, withKey(options));
  if (retried.status === 401) sessionStorage.removeItem(KEY_STORAGE); // a wrong key: asked again next time
  return retried;
}

// GET a JSON resource; throws an Error whose message is fit to show.
export async function getJSON(url) {
  let response;
  try { response = await api(url); } catch (err) { throw new Error(failure(err)); }
  if (!response.ok) {
    const error = new Error(await apiError(response));
    error.status = response.status;
    throw error;
  }
  return response.json();
}

export async function apiError(response) {
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") return body.error;
  } catch { /* not JSON */ }
  return `The server answered ${response.status} ${response.statusText}.`;
}

// What to tell the reader when fetch() itself failed.
export function failure(err) {
  return err instanceof TypeError ? "Could not reach the server. Check that it is running, then retry." : err.message;
}

function askForKey(reason) {
  keyQuestion ??= new Promise((resolve) => {
    const dialog = $("key-dialog");
    $("key-dialog-reason").textContent = reason;
    $("api-key").value = "";
    dialog.returnValue = "";
    dialog.addEventListener("close", () => {
      keyQuestion = null;
      resolve(dialog.returnValue === "ok" ? $("api-key").value.trim() : "");
    }, { once: true });
    dialog.showModal();
  });
  return keyQuestion;
}

$("key-cancel").addEventListener("click", () => $("key-dialog").close("cancel"));
