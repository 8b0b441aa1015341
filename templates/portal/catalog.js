// Adding new products: the catalogue, the cart, the review of the order and its confirmation; the
// cart counter in the header (cartCounter, which the router puts in the menu).
import { api, brl, can, dateBR, field, go, h, newKey, notify, onLogout, refresh, state, table } from "./core.js";
import { APPROVAL_SENT } from "./approvals.js";

// --- the cart counter in the header -------------------------------------------------------------
// Number of products in the cart, read once per organisation and kept current by every answer of
// the cart routes (add, remove, checkout) this module makes.
const counter = { organization: null, count: null, el: null };
onLogout(() => { counter.organization = null; counter.count = null; });  // read again for whoever signs in next

function showCount() {
  if (!counter.el) return;
  const count = counter.count || 0;
  counter.el.textContent = `Carrinho (${count})`;
  counter.el.setAttribute("aria-label", count === 1 ? "Carrinho: 1 produto" : `Carrinho: ${count} produtos`);
}

function remember(cart) {
  counter.count = cart.items.length;
  showCount();
  return cart;
}

export function cartCounter() {
  if (!state.me || !can("buy_products") || (can("back_office") && !state.actingFor)) return [];
  // Read again for another user or organisation (a new sign-in, a "ver como").
  const organization = `${state.me.user.id}:${state.actingFor ? state.actingFor.id : state.me.organization.id}`;
  if (counter.organization !== organization) {
    counter.organization = organization;
    counter.count = null;
  }
  counter.el = h("a", { href: "#/produtos/carrinho", class: "contador-carrinho", id: "contador-carrinho" });
  showCount();
  if (counter.count == null) api("GET", "/cart").then(remember).catch(() => {});
  return [counter.el];
}

// --- the catalogue and the cart ------------------------------------------------------------------
export async function catalogScreen(id) {
  if (id === "revisao") return reviewScreen();
  const [{ items: families }, cart] = await Promise.all([api("GET", "/catalog/families"), api("GET", "/cart")]);
  remember(cart);
  const family = h("select", { id: "filtro-familia" }, h("option", { value: "", text: "Todas as famílias" }),
                   families.map((f) => h("option", { value: f.id, text: f.name })));
  const search = h("input", { type: "search", id: "busca", placeholder: "Ex.: E3, Teams, Power BI" });
  const results = h("div", { class: "grade", "aria-live": "polite" });
  // Typing fires a search per key: only the latest answer shows (an earlier one arriving late
  // must not replace it, nor reset a quantity typed meanwhile).
  let asked = 0;
  const load = async () => {
    const params = new URLSearchParams();
    if (family.value) params.set("family", family.value);
    if (search.value) params.set("q", search.value);
    const turn = (asked += 1);
    const { items } = await api("GET", `/catalog/products?${params}`);
    if (turn !== asked) return;
    results.replaceChildren(...(items.length ? items.map(productCard)
      : [h("p", { class: "cartao vazio", text: "Nenhum produto encontrado." })]));
  };
  family.addEventListener("change", load);
  search.addEventListener("input", load);
  await load();
  const section = cartSection(cart);
  cartBox.el = section;
  if (id === "carrinho") setTimeout(() => section.scrollIntoView({ block: "start" }), 0);
  return [h("h1", { text: "Adicionar novos produtos" }),
          h("div", { class: "cartao" }, h("div", { class: "grade" }, field("Família de produtos", family), field("Buscar", search))),
          results, section];
}

// Adding a product already in the cart adds to its quantity: the cart's PUT sets a line's
// quantity, so the new one is what is there now plus what is added.
async function addToCart(product, added) {
  const cart = await api("GET", "/cart");
  const line = cart.items.find((item) => item.sku === product.sku);
  const quantity = (line ? line.quantity : 0) + added;
  const answer = remember(await api("PUT", `/cart/items/${encodeURIComponent(product.sku)}`, { quantity }));
  cartBox.replace(cartSection(answer));
  notify(line ? `${product.name}: ${quantity} licenças no carrinho.` : `${product.name} no carrinho.`);
}

// A product's own seat limits (#21 §4) in words, or null when it has none: "Mínimo 5 / máximo 300 licenças".
export function limitsText(limits) {
  const parts = [];
  if (limits && limits.minimum > 1) parts.push(`Mínimo ${limits.minimum}`);
  if (limits && limits.maximum != null) parts.push(`${parts.length ? "máximo" : "Máximo"} ${limits.maximum}`);
  return parts.length ? `${parts.join(" / ")} licenças` : null;
}

function productCard(product) {
  const bounds = state.me.limits.purchase_quantity;
  const limits = product.quantity_limits || { minimum: bounds.minimum, maximum: null };
  const quantity = h("input", { type: "number", min: limits.minimum, max: limits.maximum ?? bounds.maximum, step: 1,
                                value: limits.minimum, "aria-label": `Quantidade de ${product.name}` });
  const limited = limitsText(limits);
  return h("article", { class: "cartao produto" },
    h("h2", { text: product.name }), h("p", { class: "dica plano", text: `${product.family} · ${product.plan_label}` }),
    h("p", { text: `${brl(product.unit_price_cents)} por licença/mês` }),
    limited ? h("p", { class: "dica limites", text: limited }) : null,
    h("div", { class: "acoes" }, quantity,
      h("button", { type: "button", "aria-label": `Adicionar ${product.name} ao carrinho`, onclick: async (event) => {
        event.target.disabled = true;
        try { await addToCart(product, Number(quantity.value)); } catch (error) { notify(error.message); }
        finally { event.target.disabled = false; }
      }, text: "Adicionar ao carrinho" })));
}

// The cart section on screen, replaced in place after a change (no whole-screen render).
const cartBox = { el: null, replace(next) { if (this.el && this.el.isConnected) this.el.replaceWith(next); this.el = next; } };

function cartSection(cart) {
  const box = h("section", { class: "cartao", id: "carrinho", "aria-label": "Carrinho" }, h("h2", { text: "Carrinho" }));
  if (!cart.items.length) { box.append(h("p", { text: "Seu carrinho está vazio." })); return box; }
  box.append(
    table([["Produto"], ["Quantidade", "num"], ["Mensal", "num"], ["Ações"]], cart.items.map((item) => [
      h("div", {}, h("div", { text: item.name }), h("div", { class: "dica plano", text: item.plan_label })),
      String(item.quantity), brl(item.monthly_total_cents),
      h("button", { type: "button", class: "link", "aria-label": `Remover ${item.name} do carrinho`, onclick: async () => {
        try { cartBox.replace(cartSection(remember(await api("DELETE", `/cart/items/${encodeURIComponent(item.sku)}`)))); }
        catch (error) { notify(error.message); }
      }, text: "Remover" })])),
    h("p", { text: `Total mensal: ${brl(cart.monthly_total_cents)} (o primeiro mês é cobrado pró-rata)` }),
    h("div", { class: "acoes" }, h("a", { class: "botao", href: "#/produtos/revisao", text: "Revisar pedido" })));
  return box;
}

// --- the review step: what the next invoice will charge, then the confirmation ---------------------
// Why the review was shown again (the cart changed since it was reviewed), said on the new one.
let reviewNotice = null;

// The cart's products the checkout refuses (no longer sold): named with the reason, to take out.
function unavailableSection(unavailable) {
  if (!unavailable.length) return null;
  return h("section", { class: "cartao caixa-erro", id: "itens-indisponiveis", role: "alert", "aria-label": "Produtos indisponíveis" },
    h("h2", { text: "Produtos indisponíveis" }),
    h("p", { text: "Estes produtos do carrinho não podem ser comprados como estão (fora de venda, ou numa quantidade fora dos limites do produto) e ficam fora dos valores abaixo. Tire-os do carrinho para confirmar o pedido." }),
    h("ul", {}, unavailable.map((item) => h("li", {},
      h("span", { text: `${item.name} (${item.quantity}) — ${item.reason} ` }),
      h("button", { type: "button", class: "link", "aria-label": `Remover ${item.name} do carrinho`, onclick: async (event) => {
        event.target.disabled = true;
        try { remember(await api("DELETE", `/cart/items/${encodeURIComponent(item.sku)}`)); refresh(); }
        catch (error) { notify(error.message); event.target.disabled = false; }
      }, text: "Remover" })))));
}

async function reviewScreen() {
  let preview;
  try { preview = await api("GET", "/cart/preview"); } catch (error) {
    if (error.code !== "cart_empty") throw error;
    return [h("h1", { text: "Revisar pedido" }), h("p", { class: "cartao", text: "Seu carrinho está vazio." }),
            h("a", { class: "botao secundario", href: "#/produtos", text: "Voltar aos produtos" })];
  }
  const days = preview.cancellation_window_days ?? state.me.limits.cancellation_window_days;
  const rows = preview.items.map((item) => [
    h("div", {}, h("div", { text: item.name }), h("div", { class: "dica", text: `${item.quantity} × ${brl(item.unit_price_cents)} por licença/mês` })),
    String(item.quantity), item.plan_label,
    h("div", {}, h("div", { class: "primeira-cobranca", text: brl(item.first_charge_cents) }),
      h("div", { class: "dica", text: item.monthly_cents == null
        ? `Pagamento antecipado de ${dateBR(item.first_period.start)} a ${dateBR(item.first_period.end)}`
        : `Pró-rata de ${dateBR(item.first_period.start)} a ${dateBR(item.first_period.end)}` }),
      h("div", { class: "dica", text: `Na fatura do fechamento de ${dateBR(item.invoice_period_end)}` })),
    h("div", {}, item.monthly_cents == null
      ? [h("div", { class: "depois", text: "Nada por mês" }), h("div", { class: "dica", text: `Próxima cobrança em ${dateBR(item.next_charge_on)}` })]
      : [h("div", { class: "depois", text: `${brl(item.monthly_cents)}/mês` })]),
  ]);
  // What is confirmed is what is shown: the API refuses (409) a cart changed since this review.
  const unavailable = preview.unavailable || [];
  const reviewed = preview.items.map((item) => ({ sku: item.sku, quantity: item.quantity }));
  const key = newKey("checkout");
  const notice = reviewNotice; reviewNotice = null;
  const confirm = h("button", { type: "button", id: "confirmar-pedido", text: "Confirmar pedido", disabled: unavailable.length > 0 || !reviewed.length,
    onclick: async () => {
      confirm.disabled = true;
      try {
        const answer = await api("POST", "/cart/checkout", { items: reviewed }, { "Idempotency-Key": key });
        counter.count = 0; showCount();
        // Above the organisation's approval limit (an Adm): the cart went into a request to the Master.
        if (answer.approval) { notify(APPROVAL_SENT); go("#/aprovacoes"); return; }
        notify("Pedido recebido. As licenças aparecem no painel assim que provisionadas.");
        go("#/painel");
      } catch (error) {
        notify(error.message);
        if (error.code === "cart_changed_since_review" || error.code === "product_unavailable") {
          reviewNotice = error.message; refresh(); return;  // the review again, of the cart as it is now
        }
        confirm.disabled = false;
      }
    } });
  return [h("h1", { text: "Revisar pedido" }),
    notice ? h("p", { class: "erro caixa-erro", id: "aviso-revisao", role: "alert", text: notice }) : null,
    unavailableSection(unavailable),
    h("section", { class: "cartao", "aria-label": "Itens do pedido" },
      table([["Produto"], ["Quantidade", "num"], ["Prazo e plano"], ["Primeira cobrança", "num"], ["Depois", "num"]], rows),
      h("p", {}, h("span", { text: "Primeira cobrança total: " }), h("strong", { id: "primeira-cobranca-total", text: brl(preview.first_charge_cents) })),
      h("p", {}, h("span", { text: "Depois, por mês: " }), h("strong", { id: "mensal-total", text: brl(preview.monthly_cents) })),
      h("p", { class: "dica", text: `Valores calculados para ativação hoje (${dateBR(preview.activated_on)}), como a fatura os cobrará.` })),
    h("section", { class: "cartao aviso-cancelamento", "aria-label": "Prazo de cancelamento" },
      h("h2", { text: `Cancelamento em até ${days} dias` }),
      h("p", { text: `Você pode reduzir ou cancelar as licenças deste pedido em até ${days} dias após a ativação, pagando só os dias usados. Depois desse prazo, a redução só vale na renovação do prazo contratado.` })),
    h("div", { class: "acoes" }, confirm, h("a", { class: "botao secundario", href: "#/produtos", text: "Voltar ao carrinho" }))];
}
