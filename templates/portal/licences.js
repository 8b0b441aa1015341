// The licence panel: subscriptions by family, quantity changes, termination.
import { api, brl, can, dateBR, dialog, field, go, guarded, h, notify, refresh, state, table } from "./core.js";
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

// --- the 12-month spend chart: stacked bars by product family, drawn here (no library) ---------
const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#0b5394", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#4d7c0f", "#be185d", "#334155"];
const MONTH_NAMES = ["jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez"];
const monthLabel = (month) => { const [y, m] = month.split("-"); return `${MONTH_NAMES[Number(m) - 1]}/${y}`; };

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) if (value != null) el.setAttribute(key, value);
  for (const child of children) if (child) el.append(child);
  return el;
}

function spendChart(spend) {
  const families = spend.families;
  const color = (family) => PALETTE[families.indexOf(family) % PALETTE.length];
  const heading = h("h2", { id: "gastos-titulo", text: `Gastos dos últimos ${spend.items.length} meses por família` });
  if (!spend.items.some((m) => m.total_cents !== 0 || m.families.length)) {
    return h("section", { class: "cartao", "aria-labelledby": "gastos-titulo" }, heading,
             h("p", { text: "Nenhuma fatura nos últimos 12 meses." }));
  }
  const width = 720, height = 260, left = 70, bottom = 30, top = 10;
  const stacked = (m) => m.families.reduce((sum, f) => sum + Math.max(0, f.amount_cents), 0);
  const highest = Math.max(1, ...spend.items.map(stacked));
  const slot = (width - left) / spend.items.length;
  const scale = (cents) => (cents / highest) * (height - top - bottom);
  const title = svg("title", { id: "gastos-svg-titulo" });
  title.textContent = `Gastos por mês e família de produtos, de ${monthLabel(spend.items[0].month)} a ${monthLabel(spend.items.at(-1).month)}`;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "gastos-svg-titulo",
                             class: "grafico-gastos", preserveAspectRatio: "xMidYMid meet" }, title);
  for (const fraction of [0, 0.5, 1]) {
    const y = height - bottom - fraction * (height - top - bottom);
    chart.append(svg("line", { x1: left, x2: width, y1: y, y2: y, class: "grade-linha" }));
    const label = svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "eixo" });
    label.textContent = brlShort(highest * fraction);
    chart.append(label);
  }
  spend.items.forEach((month, index) => {
    const x = left + index * slot + slot * 0.15;
    const bar = svg("g", { class: "barra", "data-mes": month.month });
    const barTitle = svg("title");
    barTitle.textContent = `${monthLabel(month.month)}: ${brl(month.total_cents)}` +
      month.families.map((f) => `; ${f.family} ${brl(f.amount_cents)}`).join("");
    bar.append(barTitle);
    let y = height - bottom;
    for (const f of month.families) {
      const size = scale(Math.max(0, f.amount_cents));
      y -= size;
      bar.append(svg("rect", { x, y, width: slot * 0.7, height: Math.max(0, size), fill: color(f.family) }));
    }
    chart.append(bar);
    const label = svg("text", { x: x + slot * 0.35, y: height - 10, "text-anchor": "middle", class: "eixo" });
    label.textContent = MONTH_NAMES[Number(month.month.split("-")[1]) - 1];
    chart.append(label);
  });
  const legend = h("ul", { class: "legenda" }, families.map((family) => {
    const swatch = h("span", { class: "amostra", "aria-hidden": "true" });
    swatch.style.background = color(family);
    return h("li", {}, swatch, family);
  }));
  // The same numbers for screen readers (and anyone who prefers a table).
  const alternative = h("table", { class: "visualmente-oculto" },
    h("caption", { text: "Gastos por mês e família de produtos" }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Mês" }),
      families.map((f) => h("th", { scope: "col", text: f })), h("th", { scope: "col", text: "Créditos" }),
      h("th", { scope: "col", text: "Total" }))),
    h("tbody", {}, spend.items.map((m) => h("tr", {}, h("th", { scope: "row", text: monthLabel(m.month) }),
      families.map((f) => { const found = m.families.find((x) => x.family === f); return h("td", { text: brl(found ? found.amount_cents : 0) }); }),
      h("td", { text: brl(m.credits_cents) }), h("td", { text: brl(m.total_cents) })))));
  return h("section", { class: "cartao gastos", "aria-labelledby": "gastos-titulo" }, heading,
    // On a phone the chart keeps a readable size and scrolls sideways (focusable, so keyboards can too).
    scrolledToLatest(h("div", { class: "grafico", tabindex: "0", role: "group", "aria-label": "Gráfico de gastos por mês" }, chart)),
    legend, alternative,
    h("p", { class: "dica", text: "Valores das faturas emitidas, pelo mês de fechamento, já descontados créditos e faturas canceladas." }));
}

// Where the chart scrolls (a phone), it opens on the latest months, and stays there when resized.
function scrolledToLatest(box) {
  if (window.ResizeObserver) new ResizeObserver(() => { box.scrollLeft = box.scrollWidth; }).observe(box);
  return box;
}

const brlShort = (cents) => (cents / 100).toLocaleString("pt-BR", { style: "currency", currency: "BRL", maximumFractionDigits: 0 });

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
