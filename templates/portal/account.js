// Minha conta: who is signed in, and MFA for the profiles where it is optional.
import { dateBR, h, main, notify, state, view } from "./core.js";
import { mfaEnrolment } from "./session.js";

export async function accountScreen() {
  const { user, mfa } = state.me;
  const status = mfa.enrolled_at
    ? h("p", { id: "situacao-mfa", text: `Verificação em duas etapas ativa desde ${dateBR(mfa.enrolled_at)}.` })
    : h("p", { id: "situacao-mfa", text: "Verificação em duas etapas desativada." });
  const section = h("section", { class: "cartao" }, h("h2", { text: "Verificação em duas etapas" }), status,
    mfa.enrolled_at ? h("p", { class: "dica", text: "Trocou de celular? Peça ao atendimento para redefinir a verificação." })
      : h("div", { class: "acoes" }, h("button", { type: "button", onclick: async () => {
          const turn = (view.turn += 1);  // a render still under way does not replace it
          try { const form = await mfaEnrolment(); if (turn === view.turn) main().replaceChildren(form); }
          catch (error) { notify(error.message); } },
        text: "Ativar verificação em duas etapas" })));
  return [h("h1", { text: "Minha conta" }),
    h("section", { class: "cartao" }, h("p", { text: `${user.name} · ${user.email}` })), section];
}
