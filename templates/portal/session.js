// Signing in (password, first password, MFA code and enrolment), changing the password, signing out.
import { api, apiUrl, dialog, field, go, guarded, h, home, hooks, main, notify, refresh, state } from "./core.js";

// --- session ------------------------------------------------------------------------------------

// "Sair" (and a session the API no longer accepts): the session ends at the API too, so its refresh
// token and access tokens stop working everywhere, not only in this tab.
export async function logout() {
  const refreshToken = state.refresh;
  state.token = null; state.refresh = null; state.me = null; state.mfaSetup = null; state.actingFor = null;
  sessionStorage.removeItem("token");
  sessionStorage.removeItem("refresh");
  sessionStorage.removeItem("actingFor");
  if (refreshToken) {
    await fetch(apiUrl("/auth/logout"), { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify({ refresh_token: refreshToken }) }).catch(() => {});
  }
  location.hash = "#/entrar";
  refresh();
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
  const form = h("form", { class: "cartao login", "aria-labelledby": "titulo-login" },
    h("h1", { id: "titulo-login", text: "Entrar no portal" }),
    field("E-mail", email), field("Senha", password),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Entrar" })),
    h("p", { class: "dica" }, h("a", { href: "#/privacidade", id: "link-privacidade", text: "Privacidade e proteção de dados (LGPD)" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const result = await api("POST", "/auth/login", { email: email.value, password: password.value });
      if (result.challenge === "NEW_PASSWORD_REQUIRED") return newPasswordScreen(email.value, result.session);
      if (result.challenge === "SOFTWARE_TOKEN_MFA") return mfaCodeScreen(email.value, result.session);
      await signedIn(result.access_token, result.refresh_token);
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
      await signedIn(tokens.access_token, tokens.refresh_token);
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
      await signedIn(tokens.access_token, tokens.refresh_token);
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

export async function signedIn(token, refreshToken) {
  state.token = token;
  sessionStorage.setItem("token", token);
  if (refreshToken) { state.refresh = refreshToken; sessionStorage.setItem("refresh", refreshToken); }
  state.me = await api("GET", "/me");
  go(home());
}

hooks.sessionEnded = logout;
