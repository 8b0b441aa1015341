// Usuários: invite, change profiles, remove.
import { api, dialog, field, guarded, h, notify, refresh, state, table } from "./core.js";

export const ROLE_LABELS = { master: "Master", adm: "Adm", cobranca: "Cobrança", suporte: "Suporte" };

// The profiles as checkboxes; `name="roles"` so an error the API gives about them lands next to them.
function roleChoices(chosen = []) {
  return h("fieldset", { class: "opcoes" }, h("legend", { text: "Perfis" }),
    Object.entries(ROLE_LABELS).map(([value, text]) =>
      h("label", {}, h("input", { type: "checkbox", name: "roles", value, checked: chosen.includes(value) }), text)));
}
const checked = (fieldset) => [...fieldset.querySelectorAll("input:checked")].map((i) => i.value);

export async function usersScreen() {
  const { items } = await api("GET", "/users");
  const email = h("input", { type: "email", name: "email", autocomplete: "off", required: true });
  const name = h("input", { name: "name", autocomplete: "off", required: true, maxlength: 120 });
  const roles = roleChoices();
  const form = h("form", { class: "cartao", "aria-labelledby": "titulo-convite" },
    h("h2", { id: "titulo-convite", text: "Convidar usuário" }), field("E-mail", email), field("Nome", name), roles,
    h("p", { class: "dica", text: "A pessoa recebe por e-mail uma senha temporária e troca no primeiro acesso." }),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Convidar" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      await api("POST", "/users", { email: email.value, name: name.value, roles: checked(roles) });
      notify(`Convite enviado para ${email.value}.`); refresh();
    });
  });
  const others = items.filter((u) => u.id !== state.me.user.id);
  return [h("h1", { text: "Usuários e perfis" }), form,
    h("section", { class: "cartao", "aria-labelledby": "titulo-usuarios" },
      h("h2", { id: "titulo-usuarios", text: "Usuários da organização" }),
      items.length ? table([["Nome"], ["E-mail"], ["Perfis"], ["Situação"], ["Ações"]], items.map((u) => [
        u.name, u.email, u.roles.map((r) => ROLE_LABELS[r] || r).join(", ") || "Nenhum perfil",
        u.status === "active" ? "Ativo" : "Convidado",
        u.id === state.me.user.id ? h("span", { class: "dica", text: "Você" }) : h("div", { class: "acoes" },
          h("button", { type: "button", class: "secundario", "aria-label": `Perfis de ${u.name}`, onclick: () => rolesDialog(u), text: "Perfis" }),
          h("button", { type: "button", class: "link", "aria-label": `Remover ${u.name}`, onclick: () => removeDialog(u), text: "Remover" }))]))
        : h("p", { class: "dica", text: "Nenhum usuário cadastrado." }),
      items.length && !others.length ? h("p", { class: "dica", text: "Você ainda é o único usuário: convide alguém acima." }) : null)];
}

function rolesDialog(user) {
  dialog(`Perfis de ${user.name}`, (close) => {
    const roles = roleChoices(user.roles);
    const form = h("form", {}, roles, h("div", { class: "acoes" }, h("button", { type: "submit", text: "Salvar" }),
      h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        await api("PATCH", `/users/${user.id}`, { roles: checked(roles) }, { "If-Match": String(user.version) });
        close(); notify(`Perfis de ${user.name} atualizados.`); refresh();
      });
    });
    return form;
  });
}

function removeDialog(user) {
  dialog(`Remover ${user.name}?`, (close) => {
    const form = h("form", {},
      h("p", { text: `${user.name} (${user.email}) perde o acesso ao portal imediatamente.` }),
      h("div", { class: "acoes" }, h("button", { type: "submit", class: "perigo", text: "Remover" }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => { await api("DELETE", `/users/${user.id}`); close(); notify(`${user.name} removido.`); refresh(); });
    });
    return form;
  });
}
