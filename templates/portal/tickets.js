// Suporte: the organisation's tickets, opening one, and a ticket's conversation.
import { api, dateBR, field, guarded, h, notify, refresh, table } from "./core.js";

export const CATEGORIES = [["licencas", "Licenças"], ["faturamento", "Faturamento"], ["acesso", "Acesso"], ["tecnico", "Técnico"], ["outro", "Outro"]];
export const SEVERITIES = [["baixa", "Baixa"], ["media", "Média"], ["alta", "Alta"], ["critica", "Crítica"]];

export async function ticketsScreen(id) {
  if (id) return ticketDetail(id);
  const { items } = await api("GET", "/tickets");
  const subject = h("input", { required: true, maxlength: 150 });
  const category = h("select", {}, CATEGORIES.map(([value, text]) => h("option", { value, text })));
  const severity = h("select", {}, SEVERITIES.map(([value, text]) => h("option", { value, text })));
  const description = h("textarea", { rows: 4, required: true });
  const form = h("form", { class: "cartao", "aria-labelledby": "novo-chamado" }, h("h2", { id: "novo-chamado", text: "Abrir chamado" }),
    field("Assunto", subject), h("div", { class: "grade" }, field("Categoria", category), field("Severidade", severity)),
    field("Descrição", description), h("div", { class: "acoes" }, h("button", { type: "submit", text: "Abrir chamado" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const ticket = await api("POST", "/tickets", { subject: subject.value, category: category.value,
                                                     severity: severity.value, description: description.value });
      notify(`Chamado #${ticket.number} aberto.`); location.hash = `#/chamados/${ticket.id}`;
    });
  });
  return [h("h1", { text: "Suporte" }), form, items.length
    ? table([["Nº"], ["Assunto"], ["Situação"], ["Atualizado"], [""]], items.map((t) => [
        `#${t.number}`, t.subject, t.status_label, dateBR(t.updated_at), h("a", { href: `#/chamados/${t.id}`, text: "Abrir" })]))
    : h("p", { class: "dica", text: "Nenhum chamado aberto." })];
}

async function ticketDetail(id) {
  const ticket = await api("GET", `/tickets/${id}`);
  const body = h("textarea", { rows: 3, required: true });
  const form = h("form", { class: "cartao" }, field("Responder", body), h("div", { class: "acoes" }, h("button", { type: "submit", text: "Enviar" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => { await api("POST", `/tickets/${id}/messages`, { body: body.value }); refresh(); });
  });
  return [h("p", {}, h("a", { href: "#/chamados", text: "← Chamados" })),
    h("h1", { text: `Chamado #${ticket.number}: ${ticket.subject}` }),
    h("p", { text: `Situação: ${ticket.status_label}` }),
    ticket.messages.map((m) => h("div", { class: `mensagem ${m.author_side}` },
      h("p", { class: "dica", text: `${m.author_side === "operator" ? "Suporte" : m.author_name} · ${dateBR(m.at)}` }), h("p", { text: m.body }))),
    ticket.status === "closed" ? h("p", { class: "dica", text: "Chamado fechado." }) : form];
}
