// The licence panel: subscriptions by family, quantity changes, termination.
import { api, brl, can, dateBR, dialog, field, go, guarded, h, notify, refresh, state, table } from "./core.js";
import { stackedBars } from "./charts.js";
import { APPROVAL_SENT } from "./approvals.js";

export async function licencePanel() {
  const [{ items }, spend] = await Promise.all([
    api("GET", "/subscriptions"),
    // Financial data: only those who may see invoices get the chart (a Suporte or an Adm does not).
    can("billing") ? api("GET", "/spend/monthly?months=12").catch(() => null) : null]);
  const actions = h("div", { class: "acoes" },
    can("buy_products") ? h("a", { class: "botao", href: "#/produtos", text: "Adicionar novos produtos" }) : null,
    can("cancel_services") && items.some((s) => s.quantity > 0)
      ? h("button", { type: "button", class: "perigo", onclick: terminateDialog, text: "Rescindir contrato" }) : null);
  const families = [...new Set(items.map((s) => s.family))].sort();
  const sections = families.map((family) => h("section", { class: "cartao", "aria-label": family },
    h("h2", { text: family }),
    table([["Produto"], ["Quantidade", "num"], ["Preço unitário", "num"], ["Custo", "num"], ["Situação"], ["Renovação"], ["Ações"]],
      items.filter((s) => s.family === family).map((s) => [
        productCell(s), quantityText(s), s.unit_price_cents == null ? "—" : brl(s.unit_price_cents),
        costCell(s), statusCell(s), renewalCell(s),
        can("change_quantities") && s.status === "active"
          ? h("button", { type: "button", class: "secundario", onclick: () => quantityDialog(s),
                          "aria-label": `Alterar quantidades de ${s.name}`, text: "Alterar quantidades" }) : "",
      ]))));
  // Purchases and changes in flight settle within seconds to minutes: look again while any is.
  if (items.some((s) => s.status === "pending" || (s.pending_change && s.pending_change.applies === "now"))) {
    clearTimeout(licencePanel.refresh);
    licencePanel.refresh = setTimeout(() => {
      if (location.hash.startsWith("#/painel") && !document.querySelector("dialog[open]")) refresh();
    }, 5000);
  }
  return [h("h1", { text: "Painel de licenças" }), actions,
          items.length ? [monthlyTotal(items), sections] : await emptyPanel(),
          spend ? spendChart(spend) : null];
}

// Lines billed every period (a monthly plan, active or suspended: a suspended one is still billed).
const billedMonthly = (s) => s.billing_frequency === "monthly" && (s.status === "active" || s.status === "suspended");
const upfront = (s) => s.billing_frequency !== "monthly";
const MONTHS_UPFRONT = { annual: 12, triennial: 36 };

function monthlyTotal(items) {
  const total = items.filter(billedMonthly).reduce((sum, s) => sum + (s.unit_price_cents || 0) * s.quantity, 0);
  const prepaid = items.filter((s) => upfront(s) && s.status === "active");
  return h("section", { class: "cartao total-mensal", "aria-label": "Total mensal" },
    h("p", {}, h("span", { text: "Total mensal das licenças ativas: " }), h("strong", { id: "total-mensal", text: brl(total) })),
    prepaid.length ? h("p", { class: "dica", text: "Planos pagos antecipadamente não entram no total mensal: são cobrados no início de cada bloco do prazo." }) : null);
}

// A purchase in provisioning has no seats yet: it shows the quantity being bought, never "0".
function quantityText(s) {
  if (s.status === "pending" && s.pending_change) return String(s.pending_change.quantity);
  return String(s.quantity);
}

// What the line costs: per month for a monthly plan; for a plan paid up front, what is billed and when.
function costCell(s) {
  if (s.unit_price_cents == null) return "—";
  const quantity = Number(quantityText(s));
  if (!upfront(s)) {
    return h("div", {}, h("div", { text: `${brl(s.unit_price_cents * quantity)}/mês` }),
      h("div", { class: "dica", text: `${quantity} × ${brl(s.unit_price_cents)}` }));
  }
  const months = MONTHS_UPFRONT[s.billing_frequency] || 12;
  const when = s.renews_on ? `próxima cobrança em ${dateBR(nextBlock(s, months))}` : "cobrado na ativação";
  return h("div", {}, h("div", { text: `${brl(s.unit_price_cents * quantity * months)} a cada ${months} meses` }),
    h("div", { class: "dica", text: `Pago antecipadamente; ${when}` }));
}

// The next up-front charge: a 3-year term billed yearly starts a new year before its renewal.
function nextBlock(s, months) {
  if (!s.started_on || months >= 36 || s.term !== "P3Y") return s.renews_on;
  const start = new Date(`${s.started_on}T12:00:00`);
  const today = new Date();
  for (let year = 1; year < 3; year += 1) {
    const next = new Date(start); next.setFullYear(start.getFullYear() + year);
    if (next > today) return next.toISOString().slice(0, 10);
  }
  return s.renews_on;
}

async function emptyPanel() {
  const contract = await api("GET", "/contract").catch(() => null);
  if (contract && contract.status === "awaiting_acceptance" && contract.items.length) {
    return h("p", { class: "cartao" }, "Nenhuma assinatura ainda. As licenças contratadas são provisionadas assim que o Master aceita o ",
             h("a", { href: "#/contrato", text: "contrato" }), ".");
  }
  return h("p", { class: "cartao", text: "Nenhuma assinatura ainda." });
}

// The name and the term with its billing plan ("Anual · pagamento antecipado"), as the API labels it.
function productCell(s) {
  return h("div", {}, h("div", { text: s.name }), h("div", { class: "dica plano", text: s.plan_label }));
}

function statusCell(s) {
  const labels = { pending: "Em provisionamento", active: "Ativa", cancelled: "Cancelada", failed: "Falhou",
                   suspended: "Suspensa" };
  const tone = s.status === "active" ? "ok" : s.status === "failed" || s.status === "suspended" ? "erro" : "pendente";
  const parts = [h("span", { class: `etiqueta ${tone}`, text: labels[s.status] || s.status })];
  if (s.status === "suspended") {
    // Suspended at Microsoft for an overdue invoice: still billed, reactivated when the invoice is paid.
    parts.push(h("div", { class: "dica suspensa",
                          text: "Suspensa por falta de pagamento: reativada assim que a fatura vencida for paga." }));
  }
  if (s.pending_change) {
    const when = s.pending_change.applies === "now" ? "em processamento" : `na renovação (${dateBR(s.renews_on)})`;
    const what = s.status === "pending" ? `Compra de ${s.pending_change.quantity} licenças` : `Alteração para ${s.pending_change.quantity}`;
    parts.push(h("div", { class: "dica pendente-alteracao", text: `${what}: ${when}` }));
  }
  return h("div", {}, parts);
}

// "Redução imediata até …" only while it can still be done: a deadline gone by is no offer.
function renewalCell(s) {
  const deadline = s.cancellation_allowed_until ? new Date(s.cancellation_allowed_until) : null;
  const open = deadline && deadline > new Date() && s.reducible_now > 0;
  return h("div", {}, h("div", { text: s.renews_on ? dateBR(s.renews_on) : "—" }),
    open ? h("div", { class: "dica prazo-reducao", text: `Redução imediata até ${dateTimeBR(deadline)}` }) : null,
    h("div", { class: "dica", text: s.auto_renew ? "Renovação automática" : "Sem renovação automática" }));
}

const dateTimeBR = (moment) => moment.toLocaleString("pt-BR", { timeZone: "America/Sao_Paulo", day: "2-digit",
  month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit" }).replace(",", " às");

// --- the 12-month spend chart: stacked bars by product family (charts.js draws them) -------------
function spendChart(spend) {
  const families = spend.families;
  const heading = h("h2", { id: "gastos-titulo", text: `Gastos dos últimos ${spend.items.length} meses por família` });
  if (!spend.items.some((m) => m.total_cents !== 0 || m.families.length)) {
    return h("section", { class: "cartao", "aria-labelledby": "gastos-titulo" }, heading,
             h("p", { text: "Nenhuma fatura nos últimos 12 meses." }));
  }
  const months = spend.items.map((m) => ({ month: m.month, credits_cents: m.credits_cents, total_cents: m.total_cents,
    groups: m.families.map((f) => ({ key: f.family, label: f.family, amount_cents: f.amount_cents })) }));
  return h("section", { class: "cartao gastos", "aria-labelledby": "gastos-titulo" }, heading,
    stackedBars({ id: "gastos", months, series: families.map((f) => ({ key: f, label: f })),
                  title: "Gastos por mês e família de produtos", caption: "Gastos por mês e família de produtos" }),
    h("p", { class: "dica", text: "Valores das faturas emitidas, pelo mês de fechamento, já descontados créditos e faturas canceladas." }));
}

const REASONS = [["rescisao_contrato", "Rescisão de contrato"], ["reducao_de_custos", "Redução de custos"],
                 ["migracao", "Migração"], ["insatisfacao", "Insatisfação"], ["outro", "Outro"]];

function quantityDialog(sub) {
  dialog(`Alterar quantidades — ${sub.name}`, (close) => {
    const bounds = state.me.limits.quantity;
    // The product's own limits (#21 §4): its maximum caps the input; 0 (cancelling) stays allowed below its minimum.
    const limits = sub.quantity_limits || { minimum: 1, maximum: null };
    const quantity = h("input", { type: "number", min: bounds.minimum, max: limits.maximum ?? bounds.maximum, step: 1, value: sub.quantity, required: true });
    const limitsHint = limits.minimum > 1 || limits.maximum != null
      ? `Este produto: mínimo ${limits.minimum}${limits.maximum != null ? ` / máximo ${limits.maximum}` : ""} licenças (ou 0 para cancelar).`
      : undefined;
    const reason = h("select", {}, h("option", { value: "", text: "Selecione…" }),
                     REASONS.map(([value, text]) => h("option", { value, text })));
    const reasonText = h("textarea", { rows: 2, maxlength: 1000 });
    const reasonBox = h("div", { hidden: true }, field("Motivo da redução a zero", reason), field("Detalhes (opcional)", reasonText));
    const preview = h("div", { class: "dica", "aria-live": "polite" });
    const updatePreview = async () => {
      reasonBox.hidden = Number(quantity.value) !== 0;
      if (quantity.value === "" || Number(quantity.value) === sub.quantity) { preview.textContent = ""; return; }
      try {
        const p = await api("GET", `/subscriptions/${sub.id}/quantity-preview?quantity=${Number(quantity.value)}`);
        preview.textContent = p.applies === "now"
          ? `Efeito nesta fatura: ${brl(p.amount_cents)} (pró-rata a partir de ${dateBR(p.effective_on)}${
              sub.billing_frequency === "monthly" ? "" : " até o fim do prazo pago antecipadamente"}).`
          : `Fora do prazo de ${p.cancellation_window_days} dias: a redução será feita na renovação, em ${dateBR(p.effective_on)}.`;
      } catch (error) { preview.textContent = error.message; }
    };
    quantity.addEventListener("input", updatePreview);
    const form = h("form", {}, field("Nova quantidade", quantity, limitsHint), reasonBox, preview,
      h("div", { class: "acoes" }, h("button", { type: "submit", text: "Confirmar" }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        const body = { quantity: Number(quantity.value) };
        if (body.quantity === 0) { body.reason = reason.value || null; body.reason_text = reasonText.value || null; }
        const { change, approval } = await api("POST", `/subscriptions/${sub.id}/quantity`, body, { "If-Match": String(sub.version) });
        close();
        // Above the organisation's approval limit (an Adm): a request to the Master, nothing changed yet.
        if (approval) { notify(APPROVAL_SENT); go("#/aprovacoes"); return; }
        // Only a change that applies now shows up soon; one at the renewal says when it will.
        notify(change.applies === "now" ? "Alteração registrada. O painel reflete a mudança em até 30 minutos."
          : `Alteração registrada: será aplicada na renovação, em ${dateBR(change.effective_on || sub.renews_on)}.`);
        refresh();
      });
    });
    return form;
  });
}

function terminateDialog() {
  dialog("Rescindir contrato", (close) => {
    const text = h("textarea", { rows: 3, maxlength: 1000 });
    const form = h("form", {},
      h("p", { text: `Todas as licenças serão reduzidas a zero com o motivo “rescisão de contrato”. Reduções fora do prazo de ${state.me.limits.cancellation_window_days} dias acontecem na renovação.` }),
      field("Motivo (opcional)", text),
      h("div", { class: "acoes" }, h("button", { type: "submit", class: "perigo", text: "Rescindir" }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Voltar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        await api("POST", "/contract/terminate", { reason_text: text.value || null });
        close(); notify("Rescisão registrada."); refresh();
      });
    });
    return form;
  });
}
