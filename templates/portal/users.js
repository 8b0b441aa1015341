// Usuários: invite, change profiles, remove.
import { api, dialog, field, guarded, h, notify, refresh, state, table } from "./core.js";

export const ROLE_LABELS = { master: "Master", adm: "Adm", cobranca: "Cobrança", suporte: "Suporte" };

export async function usersScreen() {
  const { items } = await api("GET", "/users");
  const email = h("input", { type: "email", required: true });
  const name = h("input", { required: true, maxlength: 120 });
  const roles = h("fieldset", { class: "opcoes" }, h("legend", { text: "Perfis" }),
    Object.entries(ROLE_LABELS).map(([value, text]) => h("label", {}, h("input", { type: "checkbox", value }), text)));
  const form = h("form", { class: "cartao" }, h("h2", { text: "Convidar usuário" }), field("E-mail", email), field("Nome", name), roles,
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Convidar" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const chosen = [...roles.querySelectorAll("input:checked")].map((i) => i.value);
      await api("POST", "/users", { email: email.value, name: name.value, roles: chosen });
      notify("Convite enviado por e-mail."); refresh();
    });
  });
  return [h("h1", { text: "Usuários e perfis" }), form,
    table([["Nome"], ["E-mail"], ["Perfis"], ["Situação"], [""]], items.map((u) => [
      u.name, u.email, u.roles.map((r) => ROLE_LABELS[r] || r).join(", "), u.status === "active" ? "Ativo" : "Convidado",
      u.id === state.me.user.id ? "" : h("div", { class: "acoes" },
        h("button", { type: "button", class: "secundario", onclick: () => rolesDialog(u), text: "Perfis" }),
        h("button", { type: "button", class: "link", onclick: async () => {
          if (!confirm(`Remover ${u.name}?`)) return;
          try { await api("DELETE", `/users/${u.id}`); notify("Usuário removido."); refresh(); } catch (error) { notify(error.message); } },
          text: "Remover" }))]))];
}

function rolesDialog(user) {
  dialog(`Perfis de ${user.name}`, (close) => {
    const roles = h("fieldset", { class: "opcoes" }, h("legend", { text: "Perfis" }),
      Object.entries(ROLE_LABELS).map(([value, text]) => h("label", {}, h("input", { type: "checkbox", value, checked: user.roles.includes(value) }), text)));
    const form = h("form", {}, roles, h("div", { class: "acoes" }, h("button", { type: "submit", text: "Salvar" }),
      h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        await api("PATCH", `/users/${user.id}`, { roles: [...roles.querySelectorAll("input:checked")].map((i) => i.value) },
                  { "If-Match": String(user.version) });
        close(); refresh();
      });
    });
    return form;
  });
}
