// Signing in (password, first password, MFA code and enrolment), changing the password, signing out.
import { SESSION_EXPIRED_MESSAGE, api, dialog, field, go, guarded, h, home, hooks, main, notify, refresh, refreshSession,
         state, storeTokens, view } from "./core.js";

// --- session ------------------------------------------------------------------------------------

// Every trace of the user leaves the page: the state, this tab's storage (tokens, "ver como", drafts),
// the name and the menu, the screen, open dialogs and notices; a render still under way is dropped,
// a request still under way is never sent again (another session), and every module forgets what it
// kept of this user (`portal:logout`).
function forgetUser() {
  clearTimeout(scheduleRefresh.timer);
  view.turn += 1;
  state.generation += 1;
  state.token = null; state.refresh = null; state.expiresAt = null; state.me = null; state.mfaSetup = null; state.actingFor = null;
  sessionStorage.clear();
  document.querySelectorAll("dialog").forEach((d) => { if (d.open) d.close(); d.remove(); });
  const notice = document.getElementById("aviso");
  notice.textContent = ""; notice.classList.remove("visivel");
  document.getElementById("usuario").textContent = "";
  document.getElementById("menu").replaceChildren();
  document.getElementById("menu").hidden = true;
  document.getElementById("sessao").hidden = true;
  main().replaceChildren();
  document.title = "Portal Brasoftware Cloud";
  window.dispatchEvent(new Event("portal:logout"));
}

// "Sair" (and a session the API no longer accepts): the session ends at the API too, so its refresh
// token and access tokens stop working everywhere, not only in this tab. The login replaces the
// screen in the history, so Back shows the login, never the user's screen.
export async function logout() {
  const refreshToken = state.refresh;
  forgetUser();
  if (refreshToken) await api("POST", "/auth/logout", { refresh_token: refreshToken }).catch(() => {});
  location.replace("#/entrar");
  refresh();
}

// --- a session that ends by itself (refresh refused: logged out elsewhere, password changed) -------

// What was typed on the screen (text, e-mail, numbers, text areas, selects; never a password), kept
// in this tab for the SAME user to find again after signing in, in the same "ver como" context
// (an operator's draft typed inside a customer's organisation comes back only there); keyed by the
// screen (hash) and each field's name or label. What was typed in an open dialog is kept too, and
// comes back when the same dialog (by its title, on the same screen) is opened again.
const DRAFT = "rascunho";
const DIALOG_DRAFT = "rascunhoDialogo";
const actingId = () => (state.actingFor ? state.actingFor.id : null);
const TYPED = "input:not([type]), input[type=text], input[type=email], input[type=search], input[type=tel], input[type=url], "
  + "input[type=number], input[type=date], input[type=month], textarea, select";

function fieldKeys(scope) {
  const seen = {};
  return [...scope.querySelectorAll(TYPED)].map((control) => {
    const base = control.name || (control.labels && control.labels[0] && control.labels[0].textContent.trim())
      || control.getAttribute("aria-label") || "campo";
    seen[base] = (seen[base] || 0) + 1;
    return [`${base}#${seen[base]}`, control];
  });
}

function typedIn(scope) {
  const fields = {};
  for (const [key, control] of fieldKeys(scope)) {
    if (control.value !== "" && control.value !== control.defaultValue) fields[key] = control.value;
    else if (control.tagName === "SELECT" && control.value) fields[key] = control.value;
  }
  return fields;
}

function fillIn(scope, fields) {
  let restored = 0;
  for (const [key, control] of fieldKeys(scope)) {
    if (!(key in fields)) continue;
    control.value = fields[key];
    control.dispatchEvent(new Event("input", { bubbles: true }));
    control.dispatchEvent(new Event("change", { bubbles: true }));
    restored += 1;
  }
  return restored;
}

const dialogTitle = (box) => { const title = box.querySelector("h2"); return title ? title.textContent.trim() : ""; };

function saveDraft() {
  const open = [...document.querySelectorAll("dialog[open]")].map((box) => ({ title: dialogTitle(box), fields: typedIn(box) }))
    .filter((d) => Object.keys(d.fields).length).pop();
  return { user: state.me && state.me.user.id, email: state.me && state.me.user.email, acting: actingId(), hash: location.hash,
           fields: typedIn(main()), dialog: open || null };
}

// Called by the router once a screen is on: fills it with what the same user had typed there.
export function restoreDraft() {
  const draft = JSON.parse(sessionStorage.getItem(DRAFT) || "null");
  if (!draft || !state.me) return;
  if (draft.user !== state.me.user.id) { sessionStorage.removeItem(DRAFT); return; }
  if ((draft.acting || null) !== actingId() || draft.hash !== location.hash) return;  // not here: kept for there
  sessionStorage.removeItem(DRAFT);
  const restored = fillIn(main(), draft.fields || {});
  if (draft.dialog) {
    sessionStorage.setItem(DIALOG_DRAFT, JSON.stringify({ user: draft.user, acting: draft.acting || null, hash: draft.hash, ...draft.dialog }));
    notify(`Seu texto foi guardado: abra “${draft.dialog.title}” de novo para continuar.`);
  } else if (restored) notify("Recuperamos o que você tinha digitado.");
}

// A dialog opened: if it is the one that was open when the session expired (same user, same "ver
// como", same screen, same title), what was typed in it comes back.
function restoreDialogDraft(box) {
  const draft = JSON.parse(sessionStorage.getItem(DIALOG_DRAFT) || "null");
  if (!draft || !state.me) return;
  if (draft.user !== state.me.user.id) { sessionStorage.removeItem(DIALOG_DRAFT); return; }
  if (draft.acting !== actingId() || draft.hash !== location.hash || draft.title !== dialogTitle(box)) return;
  sessionStorage.removeItem(DIALOG_DRAFT);
  if (fillIn(box, draft.fields)) notify("Seu texto foi guardado e voltou para este formulário.");
}

let ending = null;
export function sessionExpired() {
  if (!state.token) return Promise.resolve();  // already ended (several requests found out together)
  if (!ending) {
    ending = (async () => {
      const draft = saveDraft();
      forgetUser();
      sessionStorage.setItem(DRAFT, JSON.stringify(draft));
      sessionStorage.setItem("sessaoExpirada", "1");
      location.replace("#/entrar");
      refresh();
    })().finally(() => { ending = null; });
  }
  return ending;
}

// A refresh a minute before the access token expires, or halfway through a lifetime shorter than
// two minutes (never a loop: at least a second between tries); a refused one (401) ends the session,
// any other failure (network, throttling) tries again in 30 s (a request would also refresh by itself).
export const refreshWait = (leftMs) => Math.max(1000, leftMs / 2, leftMs - 60 * 1000);
export function scheduleRefresh() {
  clearTimeout(scheduleRefresh.timer);
  if (!state.refresh || !state.expiresAt) return;
  const generation = state.generation;
  const attempt = async () => {
    try { if (!await refreshSession() && state.generation === generation) await sessionExpired(); }
    catch { if (state.generation === generation) scheduleRefresh.timer = setTimeout(attempt, 30 * 1000); }
  };
  scheduleRefresh.timer = setTimeout(attempt, Math.min(refreshWait(state.expiresAt - Date.now()), 2 ** 31 - 1));
}

export function passwordDialog() {
  dialog("Trocar senha", (close) => {
    const current = h("input", { type: "password", autocomplete: "current-password", required: true });
    const fresh = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: 10 });
    const form = h("form", {},
      field("Senha atual", current),
      field("Nova senha", fresh, "Mínimo de 10 caracteres, com maiúscula, minúscula, número e símbolo."),
      h("p", { class: "dica", text: "Ao trocar a senha, todas as suas sessões são encerradas, inclusive esta." }),
      h("div", { class: "acoes" },
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" }),
        h("button", { type: "submit", text: "Trocar senha" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        await api("POST", "/auth/password", { current_password: current.value, new_password: fresh.value });
        close();
        state.refresh = null;  // already ended with every other session of the user
        await logout();
        notify("Senha alterada. Entre novamente com a nova senha.");
      });
    });
    return form;
  });
}

export function loginScreen() {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const expired = sessionStorage.getItem("sessaoExpirada");
  const draft = JSON.parse(sessionStorage.getItem(DRAFT) || "null");
  if (expired && draft && draft.email) email.value = draft.email;
  const form = h("form", { class: "cartao login", "aria-labelledby": "titulo-login" },
    h("h1", { id: "titulo-login", text: "Entrar no portal" }),
    expired ? h("p", { class: "aviso-sessao", role: "alert", text: SESSION_EXPIRED_MESSAGE }) : null,
    field("E-mail", email), field("Senha", password),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Entrar" })),
    h("p", { class: "dica" }, h("a", { href: "#/privacidade", id: "link-privacidade", text: "Privacidade e proteção de dados (LGPD)" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const result = await api("POST", "/auth/login", { email: email.value, password: password.value });
      if (result.challenge === "NEW_PASSWORD_REQUIRED") return newPasswordScreen(email.value, result.session);
      if (result.challenge === "SOFTWARE_TOKEN_MFA") return mfaCodeScreen(email.value, result.session);
      await signedIn(result);
    });
  });
  return form;
}

function newPasswordScreen(email, session) {
  const password = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: 10 });
  const form = h("form", { class: "cartao login" },
    h("h1", { text: "Defina sua senha" }),
    h("p", { text: "No primeiro acesso, troque a senha temporária recebida por e-mail." }),
    field("Nova senha", password, "Mínimo de 10 caracteres, com maiúscula, minúscula, número e símbolo."),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Salvar e entrar" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const tokens = await api("POST", "/auth/new-password", { email, session, new_password: password.value });
      await signedIn(tokens);
    });
  });
  main().replaceChildren(form);
  password.focus();
}

function codeInput() {
  return h("input", { inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: 6,
                      required: true, placeholder: "000000" });
}

// Second step of the login of a user enrolled in MFA: the code its authenticator app shows now.
function mfaCodeScreen(email, session) {
  const code = codeInput();
  const form = h("form", { class: "cartao login" },
    h("h1", { text: "Verificação em duas etapas" }),
    h("p", { text: "Abra o aplicativo autenticador e digite o código de 6 dígitos do Portal Brasoftware Cloud." }),
    field("Código de verificação", code),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Verificar" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const tokens = await api("POST", "/auth/mfa", { email, session, code: code.value.trim() });
      await signedIn(tokens);
    });
  });
  main().replaceChildren(form);
  code.focus();
}

export const mfaPending = () => state.me && state.me.mfa.required && !state.me.mfa.enrolled_at;

// Enrolment: the secret (as text, and as an otpauth:// link the phone's app opens), then its first code.
// Masters and operators are brought here until they enrol; other profiles come from "Minha conta".
export async function mfaEnrolment() {
  // One secret per visit: two renders at once (a hash change and a render) must not ask for two, since
  // each request replaces the secret the identity provider will check.
  state.mfaSetup = state.mfaSetup || api("POST", "/auth/mfa/setup");
  let setup;
  try { setup = await state.mfaSetup; } catch (error) { state.mfaSetup = null; throw error; }
  const code = codeInput();
  const form = h("form", { class: "cartao", "aria-labelledby": "titulo-mfa" },
    h("h1", { id: "titulo-mfa", text: "Ative a verificação em duas etapas" }),
    mfaPending() ? h("p", { text: "Seu perfil exige a verificação em duas etapas: cadastre um aplicativo autenticador para continuar." }) : null,
    h("ol", {},
      h("li", { text: "Instale um aplicativo autenticador no celular (Microsoft Authenticator, Google Authenticator ou outro)." }),
      h("li", {}, "No aplicativo, adicione uma conta com a chave abaixo (ou ",
        h("a", { href: setup.otpauth_uri, text: "abra este link no celular" }), "):"),
      h("li", { text: "Digite o código de 6 dígitos que o aplicativo mostra." })),
    h("p", {}, "Chave: ", h("code", { id: "segredo-mfa", class: "segredo", text: setup.secret })),
    field("Código do aplicativo", code),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Ativar" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      await api("POST", "/auth/mfa/verify", { code: code.value.trim() });
      state.mfaSetup = null;
      state.me = await api("GET", "/me");
      notify("Verificação em duas etapas ativada.");
      go(home());
    });
  });
  return form;
}

// Signed in: the tokens kept and their refresh scheduled; back to the screen a session that expired
// was on (and what was typed there) if it is the same user, else to the profile's home.
export async function signedIn(tokens) {
  state.generation += 1;
  storeTokens(tokens);
  scheduleRefresh();
  state.me = await api("GET", "/me");
  sessionStorage.removeItem("sessaoExpirada");
  const draft = JSON.parse(sessionStorage.getItem(DRAFT) || "null");
  if (draft && draft.user !== state.me.user.id) { sessionStorage.removeItem(DRAFT); sessionStorage.removeItem(DIALOG_DRAFT); }
  // Back where the session ended (not into a customer's screen the operator is no longer "viewing as").
  const back = draft && draft.user === state.me.user.id && !draft.acting && draft.hash && draft.hash !== "#/entrar" ? draft.hash : null;
  go(back || home());
}

hooks.sessionEnded = sessionExpired;
hooks.refreshed = scheduleRefresh;
hooks.dialogOpened = restoreDialogDraft;
scheduleRefresh();  // a reload keeps the tab's session: its next refresh is due as before
