// Purchase approvals (issue #21 §4): the Master's "Aprovações" (the organisation's limit, the pending
// requests with Aprovar / Rejeitar, the decided ones); for an Adm, "Minhas solicitações".
import { api, brl, can, dateBR, dialog, field, guarded, h, notify, refresh, table } from "./core.js";

// What the catalog and the licence panel say when a purchase was sent for approval (a 202).
export const APPROVAL_SENT = "Pedido enviado para aprovação do Master: nada foi comprado ainda (aguardando aprovação).";

const STATUS = { pending: "Aguardando aprovação", approved: "Aprovada", rejected: "Rejeitada", expired: "Expirada",
                 failed: "Não realizada" };

const what = (a) => (a.kind === "checkout"
  ? a.items.map((i) => `${i.name} × ${i.quantity}`).join(", ")
  : `${a.subscription.name}: de ${a.subscription.from_quantity} para ${a.subscription.quantity} licenças`);

// "1.234,56" or "500" → centavos; "" → null (no limit); anything else → NaN.
function centsOf(text) {
  const clean = text.trim().replace(/^R\$\s*/, "");
  if (!clean) return null;
  if (!/^\d{1,3}(\.?\d{3})*(,\d{1,2})?$/.test(clean)) return NaN;
  const [whole, part = ""] = clean.replace(/\./g, "").split(",");
  return Number(whole) * 100 + Number(part.padEnd(2, "0"));
}

function limitSection(limit) {
  const input = h("input", { type: "text", inputmode: "decimal", name: "monthly_limit_cents", autocomplete: "off",
    value: limit.monthly_limit_cents == null ? "" : (limit.monthly_limit_cents / 100).toLocaleString("pt-BR", { minimumFractionDigits: 2 }) });
  const form = h("form", { id: "limite-aprovacao" },
    field("Limite mensal (R$)", input, "Compras de um Adm acima deste valor por mês esperam a sua aprovação. Deixe em branco para não exigir aprovação."),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Salvar limite" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const cents = centsOf(input.value);
      if (Number.isNaN(cents)) throw Object.assign(new Error("Limite mensal: informe um valor como 500,00."), { code: "invalid_value" });
      await api("PUT", "/approval-limit", { monthly_limit_cents: cents });
      notify(cents == null ? "Limite removido: nenhuma compra precisa de aprovação." : `Limite salvo: ${brl(cents)} por mês.`);
      refresh();
    });
  });
  return h("section", { class: "cartao", "aria-labelledby": "titulo-limite" },
    h("h2", { id: "titulo-limite", text: "Limite de aprovação" }),
    h("p", { id: "limite-atual", text: limit.monthly_limit_cents == null ? "Sem limite: as compras dos Adms não precisam de aprovação."
      : `Compras acima de ${brl(limit.monthly_limit_cents)} por mês precisam da sua aprovação.` }),
    form);
}

function rejectDialog(approval) {
  dialog("Rejeitar solicitação", (close) => {
    const reason = h("textarea", { rows: 3, maxlength: 500, name: "reason" });
    const form = h("form", {}, h("p", { text: `${approval.requested_by.name}: ${what(approval)}` }),
      field("Motivo (opcional, enviado ao solicitante)", reason),
      h("div", { class: "acoes" }, h("button", { type: "submit", text: "Rejeitar" }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        await api("POST", `/approvals/${approval.id}/reject`, { reason: reason.value.trim() || null });
        close(); notify("Solicitação rejeitada; o solicitante foi avisado por e-mail."); refresh();
      });
    });
    return form;
  });
}

async function approve(approval, button) {
  button.disabled = true;
  try {
    const done = await api("POST", `/approvals/${approval.id}/approve`);
    notify(done.status === "approved" ? "Aprovada: o pedido foi feito e aparece no painel de licenças."
      : `A aprovação foi registrada, mas o pedido não pôde ser feito: ${done.reason}`);
    refresh();
  } catch (error) { notify(error.message); button.disabled = false; }
}

function pendingRows(items, decide) {
  return items.map((a) => [
    h("div", {}, h("div", { text: a.requested_by.name }), h("div", { class: "dica", text: a.requested_by.email })),
    what(a), `${brl(a.monthly_effect_cents)}/mês`, dateBR(a.expires_at),
    decide ? h("div", { class: "acoes" },
      h("button", { type: "button", "aria-label": `Aprovar a solicitação de ${a.requested_by.name}: ${what(a)}`,
        onclick: (event) => approve(a, event.target), text: "Aprovar" }),
      h("button", { type: "button", class: "secundario", "aria-label": `Rejeitar a solicitação de ${a.requested_by.name}: ${what(a)}`,
        onclick: () => rejectDialog(a), text: "Rejeitar" }))
      : h("span", { class: "situacao", text: STATUS[a.status] })]);
}

function decidedRows(items) {
  return items.map((a) => [
    a.requested_by.name, what(a), `${brl(a.monthly_effect_cents)}/mês`,
    h("div", {}, h("span", { class: "situacao", text: STATUS[a.status] }), a.reason ? h("div", { class: "dica", text: a.reason }) : null),
    dateBR(a.decided_at)]);
}

export async function approvalsScreen() {
  const master = can("approve_purchases");
  const [limit, { items }] = await Promise.all([api("GET", "/approval-limit"), api("GET", "/approvals?limit=100")]);
  const pending = items.filter((a) => a.status === "pending");
  const decided = items.filter((a) => a.status !== "pending");
  const pendingSection = h("section", { class: "cartao", id: "aprovacoes-pendentes", "aria-labelledby": "titulo-pendentes" },
    h("h2", { id: "titulo-pendentes", text: master ? "Aguardando sua aprovação" : "Aguardando aprovação" }),
    pending.length
      ? table([["Solicitante"], ["Pedido"], ["Efeito mensal", "num"], ["Expira em"], [master ? "Ações" : "Situação"]], pendingRows(pending, master))
      : h("p", { text: "Nenhuma solicitação pendente." }));
  const decidedSection = h("section", { class: "cartao", id: "aprovacoes-decididas", "aria-labelledby": "titulo-decididas" },
    h("h2", { id: "titulo-decididas", text: "Decididas" }),
    decided.length
      ? table([["Solicitante"], ["Pedido"], ["Efeito mensal", "num"], ["Situação"], ["Decidida em"]], decidedRows(decided))
      : h("p", { text: "Nenhuma solicitação decidida." }));
  if (master) return [h("h1", { text: "Aprovações" }), limitSection(limit), pendingSection, decidedSection];
  return [h("h1", { text: "Minhas solicitações" }),
    h("p", { class: "cartao", text: limit.monthly_limit_cents == null ? "Suas compras não precisam de aprovação."
      : `Compras acima de ${brl(limit.monthly_limit_cents)} por mês vão para a aprovação do Master (até 7 dias).` }),
    pendingSection, decidedSection];
}
