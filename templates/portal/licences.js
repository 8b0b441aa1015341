// The licence panel: subscriptions by family, quantity changes, termination.
import { api, brl, can, dateBR, dialog, field, guarded, h, notify, refresh, state, table } from "./core.js";

export async function licencePanel() {
  const { items } = await api("GET", "/subscriptions");
  const actions = h("div", { class: "acoes" },
    can("buy_products") ? h("a", { class: "botao", href: "#/produtos", text: "Adicionar novos produtos" }) : null,
    can("cancel_services") && items.some((s) => s.quantity > 0)
      ? h("button", { type: "button", class: "perigo", onclick: terminateDialog, text: "Rescindir contrato" }) : null);
  const families = [...new Set(items.map((s) => s.family))].sort();
  const sections = families.map((family) => h("section", { class: "cartao", "aria-label": family },
    h("h2", { text: family }),
    table([["Produto"], ["Quantidade", "num"], ["Preço unitário", "num"], ["Situação"], ["Renovação"], [""]],
      items.filter((s) => s.family === family).map((s) => [
        productCell(s), String(s.quantity), s.unit_price_cents == null ? "—" : brl(s.unit_price_cents),
        statusCell(s), renewalCell(s),
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
  return [h("h1", { text: "Painel de licenças" }), actions, items.length ? sections : await emptyPanel()];
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

function renewalCell(s) {
  return h("div", {}, h("div", { text: s.renews_on ? dateBR(s.renews_on) : "—" }),
    s.cancellation_allowed_until ? h("div", { class: "dica", text: `Redução imediata até ${dateBR(s.cancellation_allowed_until)}` }) : null,
    h("div", { class: "dica", text: s.auto_renew ? "Renovação automática" : "Sem renovação automática" }));
}

const REASONS = [["rescisao_contrato", "Rescisão de contrato"], ["reducao_de_custos", "Redução de custos"],
                 ["migracao", "Migração"], ["insatisfacao", "Insatisfação"], ["outro", "Outro"]];

function quantityDialog(sub) {
  dialog(`Alterar quantidades — ${sub.name}`, (close) => {
    const bounds = state.me.limits.quantity;
    const quantity = h("input", { type: "number", min: bounds.minimum, max: bounds.maximum, step: 1, value: sub.quantity, required: true });
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
    const form = h("form", {}, field("Nova quantidade", quantity), reasonBox, preview,
      h("div", { class: "acoes" }, h("button", { type: "submit", text: "Confirmar" }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        const body = { quantity: Number(quantity.value) };
        if (body.quantity === 0) { body.reason = reason.value || null; body.reason_text = reasonText.value || null; }
        await api("POST", `/subscriptions/${sub.id}/quantity`, body, { "If-Match": String(sub.version) });
        close(); notify("Alteração registrada. O painel reflete a mudança em até 30 minutos."); refresh();
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
