// Back office — Chamados: the operators' queue (most severe first, then the oldest), filters, and a
// ticket's page with the conversation, the reply (with files) and the status change.
import { api, dateBR, field, guarded, h, notify, onLogout, refresh, table } from "./core.js";
import { SEVERITIES, STATUSES, ageLabel, conversation, replyForm, severityTag, statusTag } from "./tickets.js";

const RANK = { critica: 0, alta: 1, media: 2, baixa: 3 };
// What an operator may set, from each status (the API's rule: chalicelib/domain/tickets.py).
const TRANSITIONS = {
  open: ["in_progress", "waiting_customer", "resolved", "closed"],
  in_progress: ["waiting_customer", "resolved", "closed"],
  waiting_customer: ["in_progress", "resolved", "closed"],
  resolved: ["in_progress", "closed"],
  closed: [],
};
const statusLabel = (value) => (STATUSES.find(([v]) => v === value) || [value, value])[1];
// The queue: tickets still to be worked on (the server sends only those), unless a status filter
// asks for others.
const WORKING = "open,in_progress,waiting_customer";
export const MAX_QUEUE = 2000;

// Every page, up to MAX_QUEUE items; `cut` says more were left on the server.
async function everyPage(path) {
  const items = [];
  let token = null;
  do {
    const page = await api("GET", `${path}${path.includes("?") ? "&" : "?"}limit=100${token ? `&next_token=${encodeURIComponent(token)}` : ""}`);
    items.push(...page.items);
    token = page.next_token;
  } while (token && items.length < MAX_QUEUE);
  return { items, cut: Boolean(token) };
}

async function customerNames() {
  try {
    return new Map((await everyPage("/backoffice/organizations")).items.map((o) => [o.id, o.name]));
  } catch (error) { return new Map(); }
}

export function queueOrder(a, b) {
  return (RANK[a.severity] - RANK[b.severity]) || a.created_at.localeCompare(b.created_at);
}

const filters = { status: "", severity: "", customer: "" };
onLogout(() => { Object.keys(filters).forEach((k) => { filters[k] = ""; }); });  // not kept for the next user

export async function queueScreen(id) {
  if (id) return operatorTicket(id);
  const [{ items: tickets, cut }, names] = await Promise.all([
    everyPage(`/backoffice/tickets?status=${filters.status || WORKING}`), customerNames()]);
  const nameOf = (t) => names.get(t.organization_id) || "Cliente";
  const shown = tickets.filter((t) => (!filters.severity || t.severity === filters.severity)
    && (!filters.customer || t.organization_id === filters.customer)).sort(queueOrder);

  const status = h("select", {}, h("option", { value: "", text: "Em aberto (todos a tratar)" }),
    STATUSES.map(([value, text]) => h("option", { value, text, selected: filters.status === value })));
  const severity = h("select", {}, h("option", { value: "", text: "Todas" }),
    SEVERITIES.map(([value, text]) => h("option", { value, text, selected: filters.severity === value })));
  const customers = [...new Map(tickets.map((t) => [t.organization_id, nameOf(t)])).entries()].sort((a, b) => a[1].localeCompare(b[1], "pt-BR"));
  const customer = h("select", {}, h("option", { value: "", text: "Todos" }),
    customers.map(([value, text]) => h("option", { value, text, selected: filters.customer === value })));
  const form = h("form", { class: "cartao filtros", "aria-label": "Filtros da fila" },
    h("div", { class: "grade" }, field("Situação", status), field("Severidade", severity), field("Cliente", customer)),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Filtrar" }),
      h("button", { type: "button", class: "secundario", text: "Limpar filtros", onclick: () => { Object.assign(filters, { status: "", severity: "", customer: "" }); refresh(); } })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    Object.assign(filters, { status: status.value, severity: severity.value, customer: customer.value });
    refresh();
  });

  const now = Date.now();
  const list = shown.length
    ? table([["Nº"], ["Severidade"], ["Idade"], ["Cliente"], ["Assunto"], ["Situação"], ["Ações"]], shown.map((t) => [
        `#${t.number}`, severityTag(t.severity),
        h("time", { datetime: t.created_at, title: dateBR(t.created_at), text: ageLabel(t.created_at, now) }),
        nameOf(t), t.subject, statusTag(t),
        h("a", { href: `#/atendimento/${t.id}`, "aria-label": `Abrir o chamado #${t.number}`, text: "Abrir" })]))
    : h("p", { class: "vazio", text: "Nenhum chamado na fila" });
  return [h("h1", { text: "Chamados" }), form,
    h("p", { class: "dica", "aria-live": "polite", text: `${shown.length} chamado(s), dos mais graves aos menos graves e, em cada severidade, dos mais antigos aos mais novos.` }),
    cut ? h("p", { class: "fila-cortada", role: "status", text: `A lista foi cortada: só os ${MAX_QUEUE.toLocaleString("pt-BR")} chamados mais recentes foram carregados e os mais antigos não aparecem. Escolha uma situação no filtro para ver menos chamados de cada vez.` }) : null,
    list];
}

async function operatorTicket(id) {
  const base = `/backoffice/tickets/${id}`;
  const [ticket, names] = await Promise.all([api("GET", base), customerNames()]);
  const allowed = TRANSITIONS[ticket.status] || [];
  let statusForm = null;
  if (allowed.length) {
    const next = h("select", {}, allowed.map((value) => h("option", { value, text: statusLabel(value) })));
    statusForm = h("form", { class: "cartao", "aria-label": "Mudar a situação" }, field("Nova situação", next),
      h("div", { class: "acoes" }, h("button", { type: "submit", text: "Mudar situação" })));
    statusForm.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(statusForm, async () => {
        const moved = await api("PATCH", base, { status: next.value });
        notify(`Chamado #${moved.number}: ${moved.status_label}.`);
        refresh();
      });
    });
  }
  return [h("p", {}, h("a", { href: "#/atendimento", text: "← Fila de chamados" })),
    h("h1", { text: `Chamado #${ticket.number}: ${ticket.subject}` }),
    h("p", { class: "acoes" }, "Cliente: ", h("strong", { text: names.get(ticket.organization_id) || "—" }),
      " Situação: ", statusTag(ticket), " Severidade: ", severityTag(ticket.severity),
      h("span", { class: "dica", text: ` Aberto ${ageLabel(ticket.created_at)} (${dateBR(ticket.created_at)})` })),
    statusForm,
    conversation(ticket, base, { operator: true }),
    ticket.status === "closed" ? h("p", { class: "dica", text: "Chamado fechado: não recebe novas mensagens." })
      : replyForm(base, { label: "Responder ao cliente" })];
}
