// Suporte: the organisation's tickets, opening one, a ticket's conversation and its attachments.
// The conversation, the file field and the upload are shared with the back office's queue
// (bo-tickets.js), which uses the /backoffice/tickets/… routes.
import { ApiError, api, dateBR, field, guarded, h, markInvalid, notify, refresh, table } from "./core.js";

export const CATEGORIES = [["licencas", "Licenças"], ["faturamento", "Faturamento"], ["acesso", "Acesso"], ["tecnico", "Técnico"], ["outro", "Outro"]];
export const SEVERITIES = [["baixa", "Baixa"], ["media", "Média"], ["alta", "Alta"], ["critica", "Crítica"]];
export const STATUSES = [["open", "Aberto"], ["in_progress", "Em atendimento"], ["waiting_customer", "Aguardando cliente"], ["resolved", "Resolvido"], ["closed", "Fechado"]];
export const severityLabel = (value) => (SEVERITIES.find(([v]) => v === value) || [value, value])[1];

// The files the support desk takes (the API checks them again, by content).
export const MAX_FILE_BYTES = 4 * 1024 * 1024;
const ACCEPT = ".png,.jpg,.jpeg,.pdf,.txt,.log,.csv,.zip,image/png,image/jpeg,application/pdf,text/plain,application/zip";
const FILE_HINT = "Imagens PNG ou JPEG, PDF, texto (.txt, .log) ou .zip; até 4 MB cada.";

export function sizeLabel(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toLocaleString("pt-BR", { maximumFractionDigits: 1 })} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

// "há 3 h": how long a ticket has waited, as the queue shows it.
export function ageLabel(iso, now = Date.now()) {
  const minutes = Math.max(0, Math.floor((now - new Date(iso).getTime()) / 60000));
  if (minutes < 1) return "agora";
  if (minutes < 60) return `há ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `há ${hours} h`;
  const days = Math.floor(hours / 24);
  return `há ${days} ${days === 1 ? "dia" : "dias"}`;
}

export function severityTag(value) {
  return h("span", { class: `etiqueta severidade ${value}`, text: severityLabel(value) });
}
export function statusTag(ticket) {
  return h("span", { class: `etiqueta situacao ${ticket.status}`, text: ticket.status_label });
}

// A file field (several files) and the check the portal can make before sending anything.
export function filesInput() {
  return h("input", { type: "file", multiple: true, accept: ACCEPT });
}
export function fileField(input) { return field("Anexos (opcional)", input, FILE_HINT); }
export function checkFiles(input) {
  for (const file of input.files) {
    if (file.size === 0) throw new ApiError(400, { message: `O arquivo ${file.name} está vazio.` });
    if (file.size > MAX_FILE_BYTES) throw new ApiError(413, { message: `O arquivo ${file.name} tem ${sizeLabel(file.size)}; o limite é 4 MB por arquivo.` });
  }
  return [...input.files];
}

// One file, as the request's body (application/octet-stream) with its name in the query: api()
// sends JSON only, so the same headers are set here (the token; the customer when viewing as one).
export async function uploadFile(base, file) {
  // Through api(): the same token refresh, "ver como" header and busy state as every other call.
  try {
    return await api("POST", `${base}/attachments?name=${encodeURIComponent(file.name)}`, file);
  } catch (error) {
    if (error.code !== "session_expired" && error.code !== "network_error") error.message = `${file.name}: ${error.message}`;
    throw error;
  }
}
export async function uploadFiles(base, files) {
  const ids = [];
  for (const file of files) ids.push((await uploadFile(base, file)).id);
  return ids;
}

// A download: the API hands a short-lived link only to whoever may see the ticket.
async function download(base, attachment, button) {
  button.disabled = true;
  try {
    const link = await api("GET", `${base}/attachments/${attachment.id}`);
    window.location.assign(link.url);
  } catch (error) {
    notify(error.message);
  } finally { button.disabled = false; }
}

function attachmentList(base, attachments) {
  if (!attachments.length) return null;
  return h("ul", { class: "anexos", "aria-label": "Anexos" }, attachments.map((a) => {
    // A file deleted with the customer's personal data (LGPD): its record stays, without a download.
    let action = h("span", { class: "dica", text: "Arquivo removido (dados anonimizados)" });
    if (!a.removed_at) {
      action = h("button", { type: "button", class: "secundario", "aria-label": `Baixar ${a.name}`, text: "Baixar" });
      action.addEventListener("click", () => download(base, a, action));
    }
    return h("li", {}, h("span", { class: "anexo-nome", text: a.name }),
      h("span", { class: "dica", text: ` ${sizeLabel(a.size)} · ${a.side === "operator" ? "Suporte" : a.uploaded_by_name} · ${dateBR(a.at)}` }), " ", action);
  }));
}

// The conversation, oldest first: each message with the files sent with it; the files on the
// ticket itself (sent when it was opened) follow its first message.
export function conversation(ticket, base, { operator = false } = {}) {
  const byMessage = new Map();
  const loose = [];
  for (const a of ticket.attachments || []) {
    if (a.message_id) byMessage.set(a.message_id, [...(byMessage.get(a.message_id) || []), a]);
    else loose.push(a);
  }
  const who = (m) => (m.author_side === "operator" ? (operator ? `${m.author_name} (suporte)` : "Suporte") : m.author_name);
  return h("section", { class: "conversa", "aria-label": "Conversa" }, ticket.messages.map((m, i) => h("article", { class: `mensagem ${m.author_side}` },
    h("p", { class: "dica", text: `${who(m)} · ${dateBR(m.at)}` }), h("p", { class: "corpo", text: m.body }),
    attachmentList(base, byMessage.get(m.id) || []),
    i === 0 && loose.length ? h("div", {}, h("p", { class: "dica", text: "Anexos do chamado" }), attachmentList(base, loose)) : null)));
}

// The reply form: text and files; the files go up first, then the message names them.
export function replyForm(base, { label = "Responder" } = {}) {
  const body = h("textarea", { rows: 3, required: true, "aria-required": "true" });
  const files = filesInput();
  const form = h("form", { class: "cartao", "aria-label": label, novalidate: true }, field("Mensagem", body), fileField(files),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Enviar resposta" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      if (!body.value.trim()) throw new ApiError(400, { message: "Escreva a mensagem." });
      const chosen = checkFiles(files);
      const ids = await uploadFiles(base, chosen);
      await api("POST", `${base}/messages`, { body: body.value, ...(ids.length ? { attachment_ids: ids } : {}) });
      notify(ids.length ? `Resposta enviada com ${ids.length} anexo(s).` : "Resposta enviada.");
      refresh();
    });
  });
  return form;
}

export async function ticketsScreen(id) {
  if (id) return ticketDetail(id);
  const { items } = await api("GET", "/tickets");
  const subject = h("input", { required: true, "aria-required": "true", maxlength: 150 });
  const category = h("select", {}, CATEGORIES.map(([value, text]) => h("option", { value, text })));
  const severity = h("select", {}, SEVERITIES.map(([value, text]) => h("option", { value, text })));
  const description = h("textarea", { rows: 4, required: true, "aria-required": "true" });
  const files = filesInput();
  const form = h("form", { class: "cartao", "aria-labelledby": "novo-chamado", novalidate: true }, h("h2", { id: "novo-chamado", text: "Abrir chamado" }),
    field("Assunto", subject), h("div", { class: "grade" }, field("Categoria", category), field("Severidade", severity)),
    field("Descrição", description), fileField(files), h("div", { class: "acoes" }, h("button", { type: "submit", text: "Abrir chamado" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      // Only spaces: said next to the field, naming its label (as the API's refusal would be).
      if (!subject.value.trim()) { markInvalid(subject, "Assunto: preencha este campo."); subject.focus(); return; }
      if (!description.value.trim()) { markInvalid(description, "Descrição: preencha este campo."); description.focus(); return; }
      const chosen = checkFiles(files);
      const ticket = await api("POST", "/tickets", { subject: subject.value, category: category.value,
                                                     severity: severity.value, description: description.value });
      // The ticket exists now: a file refused after it is told, and the ticket opens anyway.
      try {
        await uploadFiles(`/tickets/${ticket.id}`, chosen);
        notify(`Chamado #${ticket.number} aberto.`);
      } catch (error) {
        notify(`Chamado #${ticket.number} aberto, mas um anexo não foi enviado: ${error.message}`);
      }
      location.hash = `#/chamados/${ticket.id}`;
    });
  });
  const list = items.length
    ? table([["Nº"], ["Assunto"], ["Severidade"], ["Situação"], ["Atualizado"], ["Ações"]], items.map((t) => [
        `#${t.number}`, t.subject, severityTag(t.severity), statusTag(t), dateBR(t.updated_at),
        h("a", { href: `#/chamados/${t.id}`, "aria-label": `Abrir o chamado #${t.number}`, text: "Abrir" })]))
    : h("p", { class: "vazio", text: "Nenhum chamado aberto." });
  return [h("h1", { text: "Suporte" }), form, h("h2", { text: "Seus chamados" }), list];
}

async function ticketDetail(id) {
  const ticket = await api("GET", `/tickets/${id}`);
  const base = `/tickets/${id}`;
  return [h("p", {}, h("a", { href: "#/chamados", text: "← Chamados" })),
    h("h1", { text: `Chamado #${ticket.number}: ${ticket.subject}` }),
    h("p", { class: "acoes" }, "Situação: ", statusTag(ticket), " Severidade: ", severityTag(ticket.severity)),
    conversation(ticket, base),
    ticket.status === "closed" ? h("p", { class: "dica", text: "Chamado fechado. Para continuar, abra um novo chamado." }) : replyForm(base)];
}
