// Back office — Recebíveis (operators): every customer's invoices to receive, by age band, with a
// CSV of the filter and the import of a bank's CNAB 240 return file; and the operator's page of one
// invoice (#/recebiveis/<id>): lines, payments, boleto, NFS-e, history, and what an operator does
// to it (payment, dispute, holding the suspension, cancel and re-issue, credit note, re-emission).
import { api, brl, dateBR, dialog, errorBox, field, guarded, h, newKey, notify, onLogout, refresh, saveBlob, table } from "./core.js";

// Our own words for the statuses (not imported from invoices.js, which another screen owns).
const INVOICE_STATUS = { open: "Em aberto", overdue: "Vencida", paid: "Paga", cancelled: "Cancelada" };

// --- money and days --------------------------------------------------------------------------

// "1.234,56", "1234,56", "1234", "R$ 0,50" → integer centavos; null when it is not an amount in
// reais. Built from the digits as text, never through a float (0,29 is 29, not 28.999…).
export function parseReais(text) {
  const typed = String(text ?? "").trim().replace(/^R\$\s*/, "").replace(/\s/g, "");
  const match = /^(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d{1,2}))?$/.exec(typed);
  if (!match) return null;
  const units = match[1].replace(/\./g, "").replace(/^0+(?=\d)/, "");
  if (units.length > 13) return null;
  return Number(units + (match[2] || "").padEnd(2, "0"));
}

// The reais an input shows for integer centavos (1234,56 → "1.234,56").
export const reaisText = (cents) => (cents / 100).toLocaleString("pt-BR", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

// Today (and days after it) as the API counts them: São Paulo's calendar, YYYY-MM-DD.
export function saoPauloDay(plusDays = 0) {
  const today = new Date().toLocaleDateString("en-CA", { timeZone: "America/Sao_Paulo" });
  const [y, m, d] = today.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + plusDays)).toISOString().slice(0, 10);
}

// A key per dialog opened: a second click on the same confirmation is the same request, not a
// second payment.

// --- the list --------------------------------------------------------------------------------

const filters = { status: "", due_from: "", due_to: "", organization_id: "" };
let lastImport = null; // the CNAB import's answer, shown until the operator signs out
// Nothing of one operator's work (the filter, the last import) is there for whoever signs in next.
onLogout(() => { Object.keys(filters).forEach((k) => { filters[k] = ""; }); lastImport = null; });

const BANDS = [["days_1_30", "1 a 30 dias"], ["days_31_60", "31 a 60 dias"], ["days_61_90", "61 a 90 dias"],
  ["days_over_90", "mais de 90 dias"]];
const invoicesWord = (n) => (n === 1 ? "1 fatura" : `${n} faturas`);

function query() {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value) params.set(name, value);
  const text = params.toString();
  return `/backoffice/invoices${text ? `?${text}` : ""}`;
}

async function allOrganizations() {
  const found = [];
  let token = null;
  for (let pages = 0; pages < 20; pages += 1) {
    const page = await api("GET", `/backoffice/organizations?limit=100${token ? `&next_token=${encodeURIComponent(token)}` : ""}`);
    found.push(...page.items);
    token = page.next_token;
    if (!token) break;
  }
  return found.sort((a, b) => a.name.localeCompare(b.name, "pt-BR"));
}

async function allReceivables() {
  const first = await api("GET", `${query()}${query().includes("?") ? "&" : "?"}limit=100`);
  const items = [...first.items];
  let token = first.next_token;
  for (let pages = 0; token && pages < 20; pages += 1) {
    const page = await api("GET", `${query()}${query().includes("?") ? "&" : "?"}limit=100&next_token=${encodeURIComponent(token)}`);
    items.push(...page.items);
    token = page.next_token;
  }
  return { items, totals: first.totals, truncated: Boolean(token) };
}

// Which organisations have their suspension held (their dunning policy): a marker on their invoices.
async function heldOrganizations(items) {
  const ids = [...new Set(items.map((i) => i.organization_id))].slice(0, 30);
  const held = new Set();
  await Promise.all(ids.map(async (id) => {
    try { if ((await api("GET", `/backoffice/organizations/${id}/dunning`)).effective.hold_suspension) held.add(id); }
    catch { /* a marker less, not a broken screen */ }
  }));
  return held;
}

function filterForm(organizations) {
  const status = h("select", { name: "status" },
    h("option", { value: "", text: "A receber (em aberto e vencidas)" }),
    Object.entries(INVOICE_STATUS).map(([value, label]) => h("option", { value, text: label })));
  status.value = filters.status;
  const customer = h("select", { name: "organization_id" }, h("option", { value: "", text: "Todos os clientes" }),
    organizations.map((o) => h("option", { value: o.id, text: o.name })));
  customer.value = filters.organization_id;
  const from = h("input", { type: "date", name: "due_from", value: filters.due_from });
  const to = h("input", { type: "date", name: "due_to", value: filters.due_to });
  const form = h("form", { class: "cartao filtros-recebiveis", "aria-label": "Filtrar recebíveis" },
    h("div", { class: "grade" }, field("Situação", status), field("Cliente", customer),
      field("Vencimento de", from), field("Vencimento até", to)),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Filtrar" }),
      h("button", { type: "button", class: "secundario", text: "Limpar filtros", onclick: () => {
        Object.keys(filters).forEach((k) => { filters[k] = ""; }); refresh(); } }),
      h("button", { type: "button", class: "secundario", id: "baixar-csv", text: "Baixar CSV", onclick: downloadCsv })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    form.querySelectorAll(".erro").forEach((e) => e.remove());
    if (from.value && to.value && from.value > to.value) {
      form.append(errorBox({ message: "Vencimento até: deve ser igual ou posterior a Vencimento de." }));
      return;
    }
    Object.assign(filters, { status: status.value, organization_id: customer.value, due_from: from.value, due_to: to.value });
    refresh();
  });
  return form;
}

async function downloadCsv(event) {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    // Through api(): an expired token is refreshed and the request sent again, a network error in words.
    const csv = await api("GET", query(), undefined, { Accept: "text/csv" }, { as: "blob" });
    const filename = `recebiveis-${saoPauloDay()}.csv`;
    saveBlob(csv, filename);
  } catch (error) {
    if (error.code !== "session_expired") notify(error.message);  // the login screen says that one
  } finally { button.disabled = false; }
}

function summary(totals) {
  if (!totals) return null;
  const card = (label, sum, cls = "") => h("section", { class: `cartao faixa-atraso ${cls}`, "aria-label": label },
    h("h2", { text: label }), h("p", { class: "faixa-valor", text: brl(sum.balance_cents) }),
    h("p", { class: "dica", text: invoicesWord(sum.count) }));
  return h("div", { class: "faixas", id: "faixas" },
    card("Total do filtro", { count: totals.count, balance_cents: totals.balance_cents }, "total"),
    card("Em aberto", totals.open), card("Vencidas", totals.overdue, "vencidas"),
    BANDS.map(([key, label]) => card(`Vencidas há ${label}`, totals.overdue_by_age[key], "banda")),
    card("Em contestação", totals.disputed));
}

function markers(item, held) {
  const marks = [];
  if (item.disputed) marks.push(h("span", { class: "etiqueta pendente", text: "Em contestação" }));
  if (held.has(item.organization_id)) marks.push(h("span", { class: "etiqueta", text: "Suspensão segurada" }));
  if (item.nfse_status === "rejected") marks.push(h("span", { class: "etiqueta erro", text: "NFS-e recusada" }));
  if (item.boleto_failure) marks.push(h("span", { class: "etiqueta erro", text: "Boleto recusado" }));
  return marks.length ? h("span", { class: "marcas" }, marks) : "—";
}

const statusTag = (status) => h("span", { class: `etiqueta ${status === "paid" ? "ok" : status === "overdue" ? "erro" : ""}`,
  text: INVOICE_STATUS[status] });

function receivablesTable(items, held) {
  if (!items.length) return h("p", { class: "cartao", id: "sem-recebiveis", text: "Nenhuma fatura encontrada para este filtro." });
  return table([["Cliente"], ["Nº"], ["Vencimento"], ["Dias em atraso", "num"], ["Saldo", "num"], ["Situação"], ["Marcas"], ["Ações"]],
    items.map((i) => [i.organization_name, String(i.number), dateBR(i.due_date), String(i.days_overdue), brl(i.balance_cents),
      statusTag(i.status), markers(i, held),
      h("a", { href: `#/recebiveis/${i.id}`, "aria-label": `Abrir a fatura nº ${i.number} de ${i.organization_name}`, text: "Abrir" })]));
}

const OUTCOME = {
  settled: ["Baixada", "ok"], partial: ["Baixa parcial", "ok"], already_recorded: ["Já registrada (ignorada)", ""],
  not_a_liquidation: ["Não é liquidação (ignorada)", ""], unknown_nosso_numero: ["Nosso número desconhecido", "erro"],
  not_payable: ["Fatura sem saldo a receber", "erro"], invalid: ["Linha inválida", "erro"], retry: ["Não processada: importe de novo", "erro"],
};

function importResult(result) {
  const t = result.totals;
  const refused = t.unknown_nosso_numero + t.not_payable + t.invalid + t.retry;
  return h("section", { class: "cartao", id: "resultado-cnab", "aria-label": "Resultado da importação" },
    h("h2", { text: `Retorno do banco ${result.bank_code}, arquivo nº ${result.file_sequence}${result.generated_on ? ` de ${dateBR(result.generated_on)}` : ""}` }),
    h("p", { id: "resumo-cnab", text: `${t.settled + t.partial} baixadas, ${t.already_recorded + t.not_a_liquidation} ignoradas, ` +
      `${refused} recusadas · aplicado ${brl(t.applied_cents)}${t.surplus_cents ? ` · excedente ${brl(t.surplus_cents)}` : ""}` }),
    result.lines.length
      ? table([["Linha", "num"], ["Nosso número"], ["Fatura"], ["Valor pago", "num"], ["Resultado"], ["Detalhe"]],
        result.lines.map((l) => {
          const [label, cls] = OUTCOME[l.outcome] || [l.outcome, ""];
          return [String(l.line), l.nosso_numero || "—",
            l.invoice_id ? h("a", { href: `#/recebiveis/${l.invoice_id}`, text: `Fatura nº ${l.invoice_number}` }) : "—",
            l.amount_cents == null ? "—" : brl(l.amount_cents), h("span", { class: `etiqueta ${cls}`, text: label }),
            [l.message, l.problem].filter(Boolean).join(" — ")];
        }))
      : h("p", { text: "O arquivo não tem títulos." }));
}

function cnabForm() {
  const file = h("input", { type: "file", name: "arquivo", accept: ".ret,.txt,.RET,.TXT,text/plain" });
  const form = h("form", { class: "cartao", "aria-label": "Importar retorno CNAB 240" },
    h("h2", { text: "Importar retorno do banco (CNAB 240)" }),
    field("Arquivo de retorno CNAB 240", file, "O arquivo .ret que o banco envia: cada boleto liquidado baixa a sua fatura."),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Importar retorno" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      if (!file.files.length) throw new Error("Arquivo de retorno CNAB 240: escolha o arquivo que o banco enviou.");
      // The file goes as it is (a Blob body); the answer is the API's JSON.
      lastImport = await api("POST", "/backoffice/payments/cnab", file.files[0], { "Content-Type": "application/octet-stream" });
      notify("Retorno importado.");
      refresh();
    });
  });
  return form;
}

export async function receivablesScreen(id) {
  if (id) return invoicePage(id);
  const [organizations, found] = await Promise.all([allOrganizations(), allReceivables()]);
  const held = await heldOrganizations(found.items);
  const shownImport = lastImport;
  return [h("h1", { text: "Recebíveis" }), filterForm(organizations), summary(found.totals),
    h("section", { "aria-label": "Faturas a receber" }, receivablesTable(found.items, held),
      found.truncated ? h("p", { class: "dica", text: "Mostrando as primeiras 2.000 faturas; refine o filtro." }) : null),
    shownImport ? importResult(shownImport) : null, cnabForm()];
}

// --- the operator's invoice page ----------------------------------------------------------------

const METHOD = { deposito: "Depósito", boleto: "Boleto" };
const NFSE = { issued: "Emitida", pending: "Ainda não emitida", rejected: "Recusada pelo emissor", cancelled: "Cancelada",
  not_issued: "Não emitida (fatura cancelada)" };

function actionDialog(title, { fields, confirm, danger = false, run }) {
  dialog(title, (close) => {
    const form = h("form", {}, fields, h("div", { class: "acoes" },
      h("button", { type: "submit", class: danger ? "perigo" : "", text: confirm }),
      h("button", { type: "button", class: "secundario", text: "Voltar", onclick: close })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => { const message = await run(); close(); notify(message); refresh(); });
    });
    return form;
  });
}

const noteInput = (name) => h("textarea", { name, rows: 3, maxlength: 500 });
function needNote(input, label, min) {
  const text = input.value.trim();
  if (text.length < min) throw new Error(`${label}: escreva ao menos ${min} caracteres.`);
  return text;
}
function needReais(input, label) {
  const cents = parseReais(input.value);
  if (cents == null) throw new Error(`${label}: informe o valor em reais, como 1.234,56.`);
  if (cents < 1) throw new Error(`${label}: informe um valor maior que zero.`);
  return cents;
}

function paymentDialog(invoice) {
  const key = newKey(`pagamento-${invoice.id}`);
  const amount = h("input", { name: "valor", inputmode: "decimal", autocomplete: "off", value: reaisText(invoice.balance_cents) });
  const paidOn = h("input", { type: "date", name: "data", value: saoPauloDay() });
  const method = h("select", { name: "forma" }, Object.entries(METHOD).map(([value, text]) => h("option", { value, text })));
  method.value = invoice.payment_method;
  actionDialog(`Registrar pagamento — fatura nº ${invoice.number}`, {
    fields: [h("p", { text: `Saldo a receber: ${brl(invoice.balance_cents)}` }),
      field("Valor pago (R$)", amount, "Em reais, como 1.234,56."), field("Data do pagamento", paidOn), field("Forma de pagamento", method)],
    confirm: "Confirmar pagamento",
    run: async () => {
      const cents = needReais(amount, "Valor pago (R$)");
      if (!paidOn.value) throw new Error("Data do pagamento: informe a data.");
      if (paidOn.value > saoPauloDay()) throw new Error("Data do pagamento: não pode ser depois de hoje.");
      const after = await api("POST", `/backoffice/invoices/${invoice.id}/payments`,
        { amount_cents: cents, paid_on: paidOn.value, method: method.value }, { "Idempotency-Key": key });
      return `Pagamento de ${brl(cents)} registrado. Saldo: ${brl(after.balance_cents)}.`;
    },
  });
}

function disputeDialog(invoice) {
  const key = newKey(`contestacao-${invoice.id}`);
  const note = noteInput("motivo");
  if (invoice.dispute) {
    actionDialog(`Encerrar a contestação — fatura nº ${invoice.number}`, {
      fields: [h("p", { text: `Contestada: ${invoice.dispute.reason}` }),
        field("Como foi resolvida", note, "A cobrança retoma na próxima rotina diária.")],
      confirm: "Encerrar contestação",
      run: async () => {
        await api("POST", `/backoffice/invoices/${invoice.id}/dispute/resolve`, { note: needNote(note, "Como foi resolvida", 5) },
          { "Idempotency-Key": key });
        return `Contestação da fatura nº ${invoice.number} encerrada.`;
      },
    });
    return;
  }
  actionDialog(`Contestar a fatura nº ${invoice.number}`, {
    fields: [h("p", { text: "Enquanto contestada, a fatura não vence nem é cobrada." }), field("Motivo da contestação", note)],
    confirm: "Marcar em contestação",
    run: async () => {
      await api("POST", `/backoffice/invoices/${invoice.id}/dispute`, { reason: needNote(note, "Motivo da contestação", 5) },
        { "Idempotency-Key": key });
      return `Fatura nº ${invoice.number} em contestação.`;
    },
  });
}

function holdDialog(invoice, dunning) {
  const holding = dunning.effective.hold_suspension;
  actionDialog(holding ? "Liberar a suspensão" : "Segurar a suspensão", {
    fields: [h("p", { text: holding
      ? `A suspensão de ${invoice.organization_name} está segurada. Liberada, a régua de cobrança volta a suspender no ${dunning.effective.suspension_day}º dia de atraso.`
      : `${invoice.organization_name} não será suspensa por atraso enquanto a suspensão estiver segurada (lembretes e bloqueio de compras continuam).` })],
    confirm: holding ? "Liberar suspensão" : "Segurar suspensão",
    run: async () => {
      // A field left out returns to the reseller's default: send back what the operator set before.
      const kept = Object.fromEntries(Object.entries(dunning.override).filter(([, value]) => value != null));
      await api("PUT", `/backoffice/organizations/${invoice.organization_id}/dunning`, { ...kept, hold_suspension: !holding },
        { "If-Match": `"${dunning.version}"` });
      return holding ? `Suspensão de ${invoice.organization_name} liberada.` : `Suspensão de ${invoice.organization_name} segurada.`;
    },
  });
}

function creditDialog(invoice) {
  const key = newKey(`credito-${invoice.id}`);
  const amount = h("input", { name: "valor", inputmode: "decimal", autocomplete: "off" });
  const reason = noteInput("motivo");
  actionDialog(`Nota de crédito — fatura nº ${invoice.number}`, {
    fields: [h("p", { text: "O crédito é abatido das próximas faturas do cliente." }),
      field("Valor do crédito (R$)", amount, "Em reais, como 1.234,56."), field("Motivo do crédito", reason)],
    confirm: "Conceder crédito",
    run: async () => {
      const cents = needReais(amount, "Valor do crédito (R$)");
      const note = await api("POST", `/backoffice/invoices/${invoice.id}/credit-notes`,
        { amount_cents: cents, reason: needNote(reason, "Motivo do crédito", 3) }, { "Idempotency-Key": key });
      return `Nota de crédito de ${brl(note.amount_cents)} concedida; será abatida da próxima fatura.`;
    },
  });
}

function cancelDialog(invoice) {
  const key = newKey(`cancelamento-${invoice.id}`);
  const reason = noteInput("motivo");
  const reissue = h("input", { type: "checkbox", name: "reemitir", id: "reemitir" });
  actionDialog(`Cancelar a fatura nº ${invoice.number}`, {
    fields: [h("p", { text: "O boleto é baixado no banco e a NFS-e cancelada no emissor. Não dá para desfazer." }),
      field("Motivo do cancelamento", reason),
      h("div", { class: "opcoes" }, h("label", { for: "reemitir" }, reissue, " Emitir uma nova fatura no lugar desta"))],
    confirm: "Cancelar fatura", danger: true,
    run: async () => {
      const answer = await api("POST", `/backoffice/invoices/${invoice.id}/cancel`,
        { reason: needNote(reason, "Motivo do cancelamento", 3), reissue: reissue.checked }, { "Idempotency-Key": key });
      return answer.reissued_invoice
        ? `Fatura nº ${invoice.number} cancelada; emitida a fatura nº ${answer.reissued_invoice.number} no lugar dela.`
        : `Fatura nº ${invoice.number} cancelada.`;
    },
  });
}

function reemitDialog(invoice, what) {
  const key = newKey(`${what}-${invoice.id}`);
  const boleto = what === "boleto";
  actionDialog(boleto ? "Registrar o boleto de novo" : "Emitir a NFS-e de novo", {
    fields: [h("p", { text: boleto
      ? "O boleto é enviado de novo ao banco (corrija antes os dados recusados); registrado, a fatura segue aos contatos de cobrança."
      : "A nota é enviada de novo ao emissor; emitida, segue aos contatos de cobrança." })],
    confirm: boleto ? "Registrar boleto" : "Emitir NFS-e",
    run: async () => {
      const after = await api("POST", `/backoffice/invoices/${invoice.id}/${what}`, undefined, { "Idempotency-Key": key });
      if (boleto) return after.boleto_failure ? "O banco recusou o boleto de novo: veja os motivos." : "Boleto registrado.";
      return after.nfse_status === "issued" ? "NFS-e emitida." : "O emissor recusou a nota de novo: veja os motivos.";
    },
  });
}

function history(invoice, payments, notes) {
  const events = [[invoice.issued_at, `Fatura nº ${invoice.number} emitida, vencimento ${dateBR(invoice.due_date)}`]];
  payments.forEach((p) => events.push([p.recorded_at, `Pagamento de ${brl(p.amount_cents)} (${METHOD[p.method]}, pago em ${dateBR(p.paid_on)}) registrado por ${p.recorded_by}`]));
  notes.forEach((n) => events.push([n.created_at, `Nota de crédito de ${brl(n.amount_cents)}: ${n.reason}`]));
  if (invoice.dispute) events.push([invoice.dispute.opened_at, `Contestação aberta: ${invoice.dispute.reason}`]);
  if (invoice.nfse_failure) events.push([invoice.nfse_failure.failed_at, `NFS-e recusada pelo emissor (${invoice.nfse_failure.attempts}ª tentativa)`]);
  if (invoice.boleto_failure) events.push([invoice.boleto_failure.failed_at, `Boleto recusado pelo banco (${invoice.boleto_failure.attempts}ª tentativa)`]);
  if (invoice.cancellation) {
    const c = invoice.cancellation;
    events.push([c.cancelled_at, `Cancelada por ${c.cancelled_by}: ${c.reason}${c.reissued_number ? ` — substituída pela fatura nº ${c.reissued_number}` : ""}`]);
  }
  events.sort((a, b) => a[0].localeCompare(b[0]));
  return h("ol", { class: "historico", id: "historico" }, events.map(([when, what]) =>
    h("li", {}, h("time", { datetime: when, text: dateBR(when) }), ` — ${what}`)));
}

async function boletoBox(invoice) {
  if (invoice.cancellation || invoice.payment_method !== "boleto") return null;
  const box = h("section", { class: "cartao", "aria-label": "Boleto" }, h("h2", { text: "Boleto" }));
  if (invoice.boleto_failure) {
    box.append(h("p", { class: "erro", text: "O banco recusou o registro do boleto:" }),
      h("ul", {}, invoice.boleto_failure.reasons.map((r) => h("li", { text: `${r.code}: ${r.message}` }))));
    return box;
  }
  try {
    const boleto = await api("GET", `/invoices/${invoice.id}/boleto`, undefined, { "X-Organization-Id": invoice.organization_id });
    box.append(h("p", { class: "linha-digitavel", id: "linha-digitavel", text: boleto.digitable_line_formatted }),
      h("p", { text: `Nosso número ${boleto.nosso_numero} · vencimento ${dateBR(boleto.due_date)} · ${brl(boleto.amount_cents)}` }),
      boleto.pdf_url ? h("a", { class: "botao secundario", href: boleto.pdf_url, text: "Baixar boleto (PDF)" }) : null);
  } catch (error) { box.append(h("p", { class: "dica", text: error.message })); }
  return box;
}

function nfseBox(invoice) {
  const box = h("section", { class: "cartao", "aria-label": "Nota fiscal" }, h("h2", { text: "Nota fiscal (NFS-e)" }),
    h("p", { id: "situacao-nfse", text: `Situação: ${NFSE[invoice.nfse_status] || invoice.nfse_status}` }));
  if (invoice.nfse) {
    box.append(h("div", { class: "acoes" },
      h("a", { class: "botao secundario", href: invoice.nfse.pdf_url, text: `Nota fiscal nº ${invoice.nfse.number} (PDF)` }),
      h("a", { class: "botao secundario", href: invoice.nfse.xml_url, text: "Nota fiscal (XML)" })));
  }
  if (invoice.nfse_failure) {
    box.append(h("ul", { class: "erro" }, invoice.nfse_failure.rejections.map((r) =>
      h("li", { text: `${r.code}: ${r.message}${r.detail ? ` (${r.detail})` : ""}` }))));
  }
  return box;
}

async function invoicePage(id) {
  const invoice = await api("GET", `/backoffice/invoices/${id}`);
  const [notes, dunning, boleto] = await Promise.all([
    api("GET", `/backoffice/invoices/${id}/credit-notes`).then((n) => n.items),
    api("GET", `/backoffice/organizations/${invoice.organization_id}/dunning`).catch(() => null),
    boletoBox(invoice)]);
  const live = invoice.status !== "cancelled";
  const owed = live && invoice.balance_cents > 0;
  const button = (text, onclick, cls = "secundario") => h("button", { type: "button", class: cls, text, onclick });
  const actions = h("div", { class: "acoes", id: "acoes-fatura" },
    owed ? button("Registrar pagamento", () => paymentDialog(invoice), "") : null,
    live ? button(invoice.dispute ? "Encerrar contestação" : "Contestar", () => disputeDialog(invoice)) : null,
    dunning ? button(dunning.effective.hold_suspension ? "Liberar suspensão" : "Segurar suspensão", () => holdDialog(invoice, dunning)) : null,
    live ? button("Nota de crédito", () => creditDialog(invoice)) : null,
    live && invoice.boleto_failure ? button("Registrar boleto de novo", () => reemitDialog(invoice, "boleto")) : null,
    live && ["rejected", "pending"].includes(invoice.nfse_status) && invoice.nfse_failure
      ? button("Emitir NFS-e de novo", () => reemitDialog(invoice, "nfse")) : null,
    live ? button("Cancelar fatura", () => cancelDialog(invoice), "perigo") : null);
  const c = invoice.cancellation;
  const facts = [["Cliente", invoice.organization_name], ["Período", `${dateBR(invoice.period_start)} a ${dateBR(invoice.period_end)}`],
    ["Emissão", dateBR(invoice.issued_at)], ["Vencimento", dateBR(invoice.due_date)], ["Forma de pagamento", METHOD[invoice.payment_method]],
    ["Total", brl(invoice.total_cents)], ["Pago", brl(invoice.paid_cents)], ["Saldo", brl(invoice.balance_cents)],
    ["Situação", INVOICE_STATUS[invoice.status]],
    ["Contestação", invoice.dispute ? `Em contestação desde ${dateBR(invoice.dispute.opened_at)}: ${invoice.dispute.reason}` : "Não"],
    ["Suspensão do cliente", dunning ? (dunning.effective.hold_suspension ? "Segurada" : `Pela régua: no ${dunning.effective.suspension_day}º dia de atraso`) : "—"]];
  if (invoice.email_error) facts.push(["Envio por e-mail", `Falhou: ${invoice.email_error}`]);
  return [h("p", {}, h("a", { href: "#/recebiveis", text: "← Recebíveis" })),
    h("h1", { text: `Fatura nº ${invoice.number} — ${invoice.organization_name}` }),
    c ? h("p", { class: "cartao", id: "cancelamento", role: "status" },
      `Cancelada em ${dateBR(c.cancelled_at)}. Motivo: ${c.reason}. `,
      c.reissued_invoice_id ? h("a", { href: `#/recebiveis/${c.reissued_invoice_id}`, text: `Substituída pela fatura nº ${c.reissued_number}` }) : null) : null,
    h("section", { class: "cartao", "aria-label": "Resumo da fatura" },
      h("dl", { class: "fatos", id: "resumo-fatura" }, facts.flatMap(([label, value]) => [h("dt", { text: label }), h("dd", { text: value })])),
      actions, invoice.pdf_url ? h("a", { href: invoice.pdf_url, text: "Baixar fatura (PDF)" }) : null),
    h("section", { class: "cartao", "aria-label": "Itens da fatura" }, h("h2", { text: "Itens" }),
      table([["Descrição"], ["Qtd.", "num"], ["Período"], ["Valor", "num"]], invoice.lines.map((l) =>
        [l.description, String(l.quantity), `${dateBR(l.start)} a ${dateBR(l.end)}`, brl(l.amount_cents)]))),
    h("section", { class: "cartao", "aria-label": "Pagamentos" }, h("h2", { text: "Pagamentos" }),
      invoice.payments.length
        ? table([["Pago em"], ["Forma"], ["Valor", "num"], ["Registrado por"]], invoice.payments.map((p) =>
          [dateBR(p.paid_on), METHOD[p.method], brl(p.amount_cents), `${p.recorded_by} em ${dateBR(p.recorded_at)}`]))
        : h("p", { text: "Nenhum pagamento registrado." })),
    boleto, nfseBox(invoice),
    h("section", { class: "cartao", "aria-label": "Notas de crédito" }, h("h2", { text: "Notas de crédito" }),
      notes.length
        ? table([["Concedida em"], ["Motivo"], ["Valor", "num"], ["Resta abater", "num"]], notes.map((n) =>
          [dateBR(n.created_at), n.reason, brl(n.amount_cents), brl(n.remaining_cents)]))
        : h("p", { text: "Nenhuma nota de crédito." })),
    h("section", { class: "cartao", "aria-label": "Histórico" }, h("h2", { text: "Histórico" }), history(invoice, invoice.payments, notes))];
}
