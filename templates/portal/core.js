// The portal's shared core: state, DOM building, formatting, the API client and small widgets.
// Every text from the API goes in with textContent (never innerHTML), so nothing it says runs.
// Screens import from here; they ask for a new render with refresh(), which the router (app.js)
// listens for, so no screen module imports the router.

export const state = {
  token: sessionStorage.getItem("token"),
  refresh: sessionStorage.getItem("refresh"),
  me: null,
  // An operator working inside a customer's organisation ("ver como"): sent as X-Organization-Id.
  actingFor: JSON.parse(sessionStorage.getItem("actingFor") || "null"),
  // When the access token stops working (ms since the epoch): a refresh is scheduled a minute before.
  expiresAt: Number(sessionStorage.getItem("expiresAt")) || null,
  // Which session this is: +1 on each sign-in and sign-out. A request remembers the one it was sent
  // in and is never sent again in another (a slow request of one user never goes out with the next
  // user's token).
  generation: 0,
};
export const main = () => document.getElementById("conteudo");
// Only the latest render shows (app.js counts them): a screen still loading when the user moved on
// must not replace what the user went to.
export const view = { turn: 0 };

// Where each profile's work is: the reseller's staff on the support queue, Master and Adm on the
// licences, Cobrança on the invoices, Suporte on the tickets.
export function home() {
  if (can("back_office") && !state.actingFor) return "#/atendimento";
  if (can("buy_products")) return "#/painel";
  if (can("billing")) return "#/faturas";
  if (can("support_tickets")) return "#/chamados";
  return "#/painel";
}

export function refresh() { window.dispatchEvent(new Event("portal:render")); }
export function go(hash) {
  if (location.hash === hash) refresh(); else location.hash = hash;
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const brl = (cents) => (cents / 100).toLocaleString("pt-BR", { style: "currency", currency: "BRL" });
export const dateBR = (iso) => {
  if (!iso) return "—";
  if (iso.length === 10) { const [y, m, d] = iso.split("-"); return `${d}/${m}/${y}`; }
  return new Date(iso).toLocaleString("pt-BR", { timeZone: "America/Sao_Paulo" });
};
export const can = (capability) => state.me && state.me.capabilities.includes(capability);

export function notify(message) {
  const box = document.getElementById("aviso");
  box.textContent = message;
  box.classList.add("visivel");
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => box.classList.remove("visivel"), 4000);
}

// A file the API answered (a Blob) saved under `filename`, as a download link the browser follows once.
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename, class: "escondido", text: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  notify(`Planilha ${filename} baixada.`);
}

export class ApiError extends Error {
  constructor(status, error) { super(error.message); this.status = status; this.code = error.code; this.details = error.details; }
}

// The session's end when the API no longer accepts it: session.js registers what to do (`sessionEnded`:
// the API refused the session; `refreshed`: new tokens arrived, so the next refresh is scheduled;
// `dialogOpened(box)`: a dialog is on, so what was typed in it before an expiry can come back).
// A sign-out (by "Sair" or an expiry) dispatches `portal:logout` on window: a module keeping state
// of its own (filters, the last result shown) listens and forgets it (see onLogout).
export const hooks = { sessionEnded: async () => {}, refreshed: () => {}, dialogOpened: () => {} };
export const onLogout = (forget) => window.addEventListener("portal:logout", forget);

// Paths are relative to the page (`auth/login`, not `/auth/login`): the portal works at a host's root
// (custom domain) and under API Gateway's stage path (…/api/) alike.
export const apiUrl = (path) => path.replace(/^\//, "");

// What the user reads when the API cannot be reached or answers with something that is not the API's
// (a proxy's HTML page): never "Failed to fetch" nor a JSON parse error.
export const NETWORK_MESSAGE = "Não foi possível falar com o servidor. Verifique sua conexão.";
const networkError = (status = 0) => new ApiError(status, { code: "network_error", message: NETWORK_MESSAGE });

// Routes that sign in (their 401 is a wrong password or code, not an expired session).
const SIGN_IN_PATHS = ["/auth/login", "/auth/new-password", "/auth/mfa", "/auth/refresh", "/auth/logout"];

// `as`: "blob" or "text" reads a successful answer as it is (a CSV, a document), not as JSON.
async function send(method, path, body, extraHeaders, as) {
  const headers = { ...extraHeaders };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (state.actingFor && !path.startsWith("/backoffice") && !path.startsWith("/auth")) headers["X-Organization-Id"] = state.actingFor.id;
  // A file (a ticket's attachment) goes as it is; anything else as JSON.
  const raw = body instanceof Blob;
  if (body !== undefined && !raw) headers["Content-Type"] = "application/json";
  if (raw && !headers["Content-Type"]) headers["Content-Type"] = "application/octet-stream";
  let response, text;
  try {
    response = await fetch(apiUrl(path), { method, headers, body: body === undefined ? undefined : raw ? body : JSON.stringify(body) });
    if (response.ok && as === "blob") return { status: response.status, data: await response.blob() };
    text = await response.text();
    if (response.ok && as === "text") return { status: response.status, data: text };
  } catch { throw networkError(); }
  const json = (response.headers.get("Content-Type") || "").includes("json");
  let data = null;
  if (text && json) { try { data = JSON.parse(text); } catch { throw networkError(response.status); } }
  // An answer that is not the API's (HTML from a proxy, the gateway's own error page) is no answer.
  if (!response.ok && !(data && data.error)) {
    if (response.status >= 500 || !json) throw networkError(response.status);
    throw new ApiError(response.status, { message: "Erro inesperado." });
  }
  // A successful answer that is not JSON (a document the API serves) is given as text.
  if (response.ok && text && !json) return { status: response.status, data: text };
  return { status: response.status, data, error: data && data.error };
}

// One refresh at a time (several requests may find the token expired together). False only when the
// API refuses the refresh token (401: logged out elsewhere, password changed) or the session changed
// meanwhile; anything else (Cognito throttling: 429, a 5xx, no network) throws the network error and
// the session stays: the next request, or the scheduled refresh, tries again.
let refreshing = null;
export function refreshSession() {
  if (!state.refresh) return Promise.resolve(false);
  if (!refreshing) {
    const refreshToken = state.refresh;
    refreshing = (async () => {
      const answer = await send("POST", "/auth/refresh", { refresh_token: refreshToken }, {});
      if (state.refresh !== refreshToken) return false;  // signed out (or in again) meanwhile
      if (answer.status === 401) return false;  // refused: the session ended
      if (answer.error) throw networkError(answer.status);
      storeTokens(answer.data);
      hooks.refreshed();
      return true;
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

// Tokens kept for this tab only; `expiresAt` (ms) says when the access token stops working.
export function storeTokens(tokens) {
  state.token = tokens.access_token;
  sessionStorage.setItem("token", tokens.access_token);
  if (tokens.refresh_token) { state.refresh = tokens.refresh_token; sessionStorage.setItem("refresh", tokens.refresh_token); }
  if (tokens.expires_in) {
    state.expiresAt = Date.now() + tokens.expires_in * 1000;
    sessionStorage.setItem("expiresAt", String(state.expiresAt));
  }
}

// api(method, path, body?, headers?): the API's JSON answer, or an ApiError in plain pt-BR. An access
// token the API no longer takes is refreshed once and the request sent again; if the session cannot
// go on, `hooks.sessionEnded` takes the user to the login (keeping what was typed) and this throws an
// ApiError with code `session_expired`.
// Any request under way shows a thin bar at the top of the page (visual only: a screen that polls
// must not go silent for a screen reader each time).
let pending = 0;
function busy(delta) {
  pending = Math.max(0, pending + delta);
  document.documentElement.classList.toggle("a-carregar", pending > 0);
}

// The fifth argument, {as: "blob"|"text"}, takes a successful answer as it is (a CSV to download):
// the same token refresh, replay, network message and `session_expired` as any other call.
export async function api(method, path, body, extraHeaders = {}, { as } = {}) {
  busy(+1);
  try { return await call(method, path, body, extraHeaders, as); } finally { busy(-1); }
}

const expired = () => new ApiError(401, { code: "session_expired", message: SESSION_EXPIRED_MESSAGE });

async function call(method, path, body, extraHeaders, as) {
  const sentWith = state.token;
  const generation = state.generation;
  let answer = await send(method, path, body, extraHeaders, as);
  if (answer.status === 401 && sentWith && !SIGN_IN_PATHS.includes(path)) {
    // Another request found the session over, or another session began meanwhile: never sent again
    // (with the next user's token), and that session is not this request's to end.
    if (!state.token || state.generation !== generation) throw expired();
    // Another request may have refreshed already; a network error while refreshing throws as is.
    const renewed = state.token !== sentWith || await refreshSession();
    if (state.generation !== generation) throw expired();
    if (renewed) answer = await send(method, path, body, extraHeaders, as);
    if (answer.status === 401) {
      if (state.generation === generation) await hooks.sessionEnded();
      throw expired();
    }
  }
  if (answer.error) {
    const error = new ApiError(answer.status, answer.error);
    error.sent = body;  // what was sent: guarded() finds the field the error names by its value
    throw error;
  }
  return answer.data;
}
export const SESSION_EXPIRED_MESSAGE = "Sua sessão expirou. Entre novamente para continuar.";

// errorBox(error, {retry}): the error in words; with `retry` (or for a network error, a "Tentar
// novamente" that asks the router to render again) the user can try again.
export function errorBox(error, { retry } = {}) {
  const again = retry || (error && error.code === "network_error" ? refresh : null);
  return h("div", { class: "erro caixa-erro", role: "alert" }, h("p", { text: error.message || NETWORK_MESSAGE }),
    again ? h("button", { type: "button", class: "secundario", onclick: again, text: "Tentar novamente" }) : null);
}

// --- field errors: the API's and the browser's, in words naming the field's label ------------------

const labelOf = (control) => {
  // A group of options (checkboxes, radios) is named by its legend, not by the one option.
  const group = (control.type === "checkbox" || control.type === "radio") && control.closest("fieldset");
  const legend = group && group.querySelector("legend");
  if (legend && group.querySelectorAll(`input[name="${control.name}"]`).length > 1) return legend.textContent.trim();
  const label = control.labels && control.labels[0];
  if (label) return label.textContent.trim();
  return (legend && legend.textContent.trim()) || control.getAttribute("aria-label") || "";
};

function fieldPhrase(error, control) {
  const d = error.details || {};
  const value = control && control.value !== "" ? Number(control.value) : NaN;
  switch (error.code) {
    case "required": return "preencha este campo.";
    case "too_short": return "é curto demais.";
    case "too_long": return `deve ter no máximo ${d.max_length} caracteres.`;
    case "invalid_format": return "está em formato inválido.";
    case "invalid_type": return d.expected === "integer" ? "deve ser um número inteiro." : "tem um valor inválido.";
    case "unknown_field": return "não é aceito.";
    case "too_few_items": return d.min_items === 1 ? "escolha ao menos um." : `escolha ao menos ${d.min_items}.`;
    case "too_many_items": return `escolha no máximo ${d.max_items}.`;
    case "duplicate_items": return "tem itens repetidos.";
    default:
      if (d.minimum != null && !(value >= d.minimum)) return `deve ser no mínimo ${d.minimum}.`;
      if (d.maximum != null && value > d.maximum) return `deve ser no máximo ${d.maximum}.`;
      return null;
  }
}

export function clearFieldErrors(scope) {
  scope.querySelectorAll(".erro-campo").forEach((e) => e.remove());
  scope.querySelectorAll("[aria-invalid=true]").forEach((c) => {
    c.removeAttribute("aria-invalid");
    const described = (c.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && !id.startsWith("erro-"));
    if (described.length) c.setAttribute("aria-describedby", described.join(" ")); else c.removeAttribute("aria-describedby");
  });
}

// The message next to the control (after it, or after its fieldset's last option), announced and
// linked with aria-describedby; the control is marked aria-invalid.
export function markInvalid(control, message) {
  const id = `erro-${Math.random().toString(36).slice(2)}`;
  const note = h("p", { class: "erro erro-campo", id, role: "alert", text: message });
  const group = control.type === "checkbox" || control.type === "radio" ? control.closest("fieldset") : null;
  (group || control).after(note);
  const targets = group ? [...group.querySelectorAll("input")] : [control];
  for (const target of targets) {
    target.setAttribute("aria-invalid", "true");
    target.setAttribute("aria-describedby", [target.getAttribute("aria-describedby"), id].filter(Boolean).join(" "));
  }
  return note;
}

// The value the request sent at a path like "items[0].quantity".
function valueAt(sent, path) {
  let value = sent;
  for (const part of path.split(/[.[\]]+/).filter(Boolean)) {
    if (value == null || typeof value !== "object") return undefined;
    value = value[part];
  }
  return value;
}

// The form's control the API's `details.field` names ("quantity", "items[0].quantity", "roles"):
// by its `name` (or `data-field`), the whole path first, then its last part; failing that (a form
// whose inputs have no name), the one control holding the value that was sent there.
function controlFor(form, path, sent) {
  if (!path || path === "body") return null;
  const controls = [...form.querySelectorAll("input, select, textarea")];
  const last = path.replace(/\[\d+\]/g, "").split(".").pop();
  for (const key of [path, last]) {
    const found = controls.find((c) => c.name === key || c.dataset.field === key);
    if (found) return found;
  }
  const value = sent === undefined ? undefined : valueAt(sent, path);
  if (value == null || typeof value === "object") return null;
  const holding = controls.filter((c) => !["checkbox", "radio", "hidden", "submit", "button", "password"].includes(c.type)
                                         && c.value === String(value));
  return holding.length === 1 ? holding[0] : null;
}

function showFieldError(form, error) {
  const path = error.details && error.details.field;
  const control = controlFor(form, path, error.sent);
  if (!control) {
    // Never a JSON field's name on screen: the sentence without it.
    if (path && error.message) error.message = error.message.replace(/^Campo '[^']*'/, "Um dos campos").replace(/ no campo '[^']*'/, " em um dos campos");
    return false;
  }
  const phrase = fieldPhrase(error, control);
  const label = labelOf(control);
  markInvalid(control, label ? `${label}: ${phrase || error.message}` : error.message);
  if (phrase || label) { control.focus(); return true; }
  return false;
}

// The browser's own check (required, e-mail, minlength, min/max) speaks our words, next to the field.
const BROWSER_PHRASES = [
  ["valueMissing", (c) => (c.type === "checkbox" ? "marque esta opção." : c.tagName === "SELECT" ? "escolha uma opção." : "preencha este campo.")],
  ["typeMismatch", (c) => (c.type === "email" ? "informe um e-mail válido (nome@empresa.com.br)." : "está em formato inválido.")],
  ["tooShort", (c) => `deve ter ao menos ${c.minLength} caracteres.`],
  ["tooLong", (c) => `deve ter no máximo ${c.maxLength} caracteres.`],
  ["patternMismatch", (c) => (c.autocomplete === "one-time-code" ? "digite os 6 dígitos do código." : "está em formato inválido.")],
  ["rangeUnderflow", (c) => `deve ser no mínimo ${c.min}.`],
  ["rangeOverflow", (c) => `deve ser no máximo ${c.max}.`],
  ["stepMismatch", () => "deve ser um número inteiro."],
  ["badInput", () => "deve ser um número."],
];
document.addEventListener("invalid", (event) => {
  const control = event.target;
  const form = control.form;
  event.preventDefault();  // no browser bubble: our sentence, next to the field
  if (!form) return;
  if (!form.dataset.checking) {  // the first invalid control of this submit clears the previous messages
    form.dataset.checking = "1";
    clearFieldErrors(form);
    setTimeout(() => { delete form.dataset.checking; const first = form.querySelector("[aria-invalid=true]"); if (first) first.focus(); });
  }
  const entry = BROWSER_PHRASES.find(([flag]) => control.validity[flag]);
  markInvalid(control, `${labelOf(control)}: ${entry ? entry[1](control) : "verifique este campo."}`);
}, true);
document.addEventListener("input", (event) => {
  // Typing (or ticking an option) again takes the field's message away: the note and every control it marked.
  const control = event.target;
  if (!control.getAttribute || control.getAttribute("aria-invalid") !== "true") return;
  const ids = (control.getAttribute("aria-describedby") || "").split(" ").filter((id) => id.startsWith("erro-"));
  for (const id of ids) {
    const note = document.getElementById(id);
    if (note) note.remove();
    document.querySelectorAll(`[aria-describedby~="${id}"]`).forEach((marked) => {
      marked.removeAttribute("aria-invalid");
      const rest = marked.getAttribute("aria-describedby").split(" ").filter((other) => other !== id);
      if (rest.length) marked.setAttribute("aria-describedby", rest.join(" ")); else marked.removeAttribute("aria-describedby");
    });
  }
});

// guarded(form, action, {busy}): while `action` runs, the form and its submit button are busy
// (aria-busy, disabled, "Carregando…"); an error shows in words, next to the field it names.
export async function guarded(form, action) {
  const button = form.querySelector("button[type=submit]");
  form.querySelectorAll(".erro").forEach((e) => e.remove());
  clearFieldErrors(form);
  form.setAttribute("aria-busy", "true");
  if (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
  try { await action(); } catch (error) {
    if (error.code === "session_expired") return;  // the login screen says it, and keeps what was typed
    if (!showFieldError(form, error)) {
      form.append(errorBox(error, error.code === "network_error" ? { retry: () => form.requestSubmit() } : {}));
    }
  } finally {
    form.removeAttribute("aria-busy");
    if (button) { button.disabled = false; button.removeAttribute("aria-busy"); }
  }
}

export function field(label, input, hint) {
  const id = input.id || `campo-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return h("div", {}, h("label", { for: id, text: label }), input, hint ? h("p", { class: "dica", text: hint }) : null);
}

export function table(headers, rows, { responsive = true } = {}) {
  return h("table", { class: responsive ? "responsiva" : "" },
    h("thead", {}, h("tr", {}, headers.map(([text, cls]) => h("th", { class: cls || "", scope: "col", text })))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell, i) =>
      h("td", { class: headers[i][1] || "", "data-rotulo": headers[i][0] }, cell))))));
}

export function dialog(title, build) {
  const box = h("dialog", { "aria-labelledby": "dialogo-titulo" });
  const close = () => { box.close(); box.remove(); };
  box.append(h("h2", { id: "dialogo-titulo", text: title }), build(close));
  document.body.append(box);
  box.addEventListener("close", () => box.remove());
  box.showModal();
  hooks.dialogOpened(box);
  return box;
}

// One Idempotency-Key per dialog or review screen (not per click): a retry after a lost answer
// replays the first result instead of paying, ordering or issuing twice.
export const newKey = (what) => `${what}-${(crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random().toString(36).slice(2)}`}`;
