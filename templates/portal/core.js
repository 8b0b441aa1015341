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

export class ApiError extends Error {
  constructor(status, error) { super(error.message); this.status = status; this.code = error.code; this.details = error.details; }
}

// The session's end when the API no longer accepts it: session.js registers what to do.
export const hooks = { sessionEnded: async () => {} };

// Paths are relative to the page (`auth/login`, not `/auth/login`): the portal works at a host's root
// (custom domain) and under API Gateway's stage path (…/api/) alike.
export const apiUrl = (path) => path.replace(/^\//, "");

export async function api(method, path, body, extraHeaders = {}) {
  const headers = { ...extraHeaders };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (state.actingFor && !path.startsWith("/backoffice") && !path.startsWith("/auth")) headers["X-Organization-Id"] = state.actingFor.id;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(apiUrl(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (response.status === 401 && state.token) { await hooks.sessionEnded(); throw new ApiError(401, (data && data.error) || {}); }
  if (!response.ok) throw new ApiError(response.status, (data && data.error) || { message: "Erro inesperado." });
  return data;
}

export function errorBox(error) { return h("p", { class: "erro", role: "alert", text: error.message }); }

export async function guarded(form, action) {
  const button = form.querySelector("button[type=submit]");
  form.querySelectorAll(".erro").forEach((e) => e.remove());
  if (button) button.disabled = true;
  try { await action(); } catch (error) { form.append(errorBox(error)); } finally { if (button) button.disabled = false; }
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
  return box;
}
