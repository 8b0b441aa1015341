// Minha conta: who is signed in, and MFA for the profiles where it is optional.
import { dateBR, h, main, notify, state, view } from "./core.js";
import { mfaEnrolment, passwordDialog } from "./session.js";
import { ROLE_LABELS } from "./users.js";

const PROFILE_LABELS = { ...ROLE_LABELS, operator: "Operador (Brasoftware)" };

export async function accountScreen() {
  const { user, mfa, organization, roles } = state.me;
  const status = mfa.enrolled_at
    ? h("p", { id: "situacao-mfa", text: `Verificação em duas etapas ativa desde ${dateBR(mfa.enrolled_at)}.` })
    : h("p", { id: "situacao-mfa", text: "Verificação em duas etapas desativada." });
  const enrol = h("button", { type: "button", text: "Ativar verificação em duas etapas" });
  enrol.addEventListener("click", async () => {
    const turn = (view.turn += 1);  // a render still under way does not replace it
    enrol.disabled = true; enrol.setAttribute("aria-busy", "true");
    try {
      const form = await mfaEnrolment();
      if (turn === view.turn) { main().replaceChildren(form); const title = form.querySelector("h1"); title.tabIndex = -1; title.focus(); }
    } catch (error) { if (error.code !== "session_expired") notify(error.message); }
    finally { enrol.disabled = false; enrol.removeAttribute("aria-busy"); }
  });
  const section = h("section", { class: "cartao", "aria-labelledby": "titulo-conta-mfa" },
    h("h2", { id: "titulo-conta-mfa", text: "Verificação em duas etapas" }), status,
    mfa.enrolled_at ? h("p", { class: "dica", text: "Trocou de celular? Peça ao atendimento para redefinir a verificação." })
      : h("div", { class: "acoes" }, enrol));
  const profiles = (roles || user.roles || []).map((r) => PROFILE_LABELS[r] || r).join(", ") || "Nenhum perfil";
  return [h("h1", { text: "Minha conta" }),
    h("section", { class: "cartao", "aria-labelledby": "titulo-conta-dados" },
      h("h2", { id: "titulo-conta-dados", text: "Seus dados" }),
      h("dl", { class: "dados-conta" },
        h("dt", { text: "Nome" }), h("dd", { text: user.name }),
        h("dt", { text: "E-mail" }), h("dd", { text: user.email }),
        h("dt", { text: "Organização" }), h("dd", { text: organization.name }),
        h("dt", { text: "Perfis" }), h("dd", { text: profiles })),
      h("div", { class: "acoes" }, h("button", { type: "button", class: "secundario", onclick: passwordDialog, text: "Trocar senha" }))),
    section];
}
