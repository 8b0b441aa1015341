// Adding new products: the catalogue, the cart and the checkout.
import { api, brl, notify, h, field, refresh, state, table } from "./core.js";

export async function catalogScreen() {
  const [{ items: families }, cart] = await Promise.all([api("GET", "/catalog/families"), api("GET", "/cart")]);
  const family = h("select", { id: "filtro-familia" }, h("option", { value: "", text: "Todas as famílias" }),
                   families.map((f) => h("option", { value: f.id, text: f.name })));
  const search = h("input", { type: "search", id: "busca", placeholder: "Ex.: E3, Teams, Power BI" });
  const results = h("div", { class: "grade", "aria-live": "polite" });
  const load = async () => {
    const params = new URLSearchParams();
    if (family.value) params.set("family", family.value);
    if (search.value) params.set("q", search.value);
    const { items } = await api("GET", `/catalog/products?${params}`);
    results.replaceChildren(...items.map(productCard));
  };
  family.addEventListener("change", load);
  search.addEventListener("input", load);
  await load();
  return [h("h1", { text: "Adicionar novos produtos" }),
          h("div", { class: "cartao" }, h("div", { class: "grade" }, field("Família de produtos", family), field("Buscar", search))),
          results, cartSection(cart)];
}

function productCard(product) {
  const bounds = state.me.limits.purchase_quantity;
  const quantity = h("input", { type: "number", min: bounds.minimum, max: bounds.maximum, value: 1, "aria-label": `Quantidade de ${product.name}` });
  return h("article", { class: "cartao produto" },
    h("h2", { text: product.name }), h("p", { class: "dica plano", text: `${product.family} · ${product.plan_label}` }),
    h("p", { text: `${brl(product.unit_price_cents)} por licença/mês` }),
    h("div", { class: "acoes" }, quantity,
      h("button", { type: "button", onclick: async () => {
        try { await api("PUT", `/cart/items/${encodeURIComponent(product.sku)}`, { quantity: Number(quantity.value) });
              notify(`${product.name} no carrinho.`); refresh(); } catch (error) { notify(error.message); }
      }, text: "Adicionar ao carrinho" })));
}

// The invoice's lines: they add up to the total, as on its PDF and email (credit notes used are
function cartSection(cart) {
  if (!cart.items.length) return h("section", { class: "cartao", "aria-label": "Carrinho" }, h("h2", { text: "Carrinho" }), h("p", { text: "Seu carrinho está vazio." }));
  const checkout = async (event) => {
    event.target.disabled = true;
    try {
      await api("POST", "/cart/checkout", undefined, { "Idempotency-Key": `checkout-${Date.now()}` });
      notify("Pedido recebido. As licenças aparecem no painel assim que provisionadas.");
      location.hash = "#/painel";
    } catch (error) { notify(error.message); event.target.disabled = false; }
  };
  return h("section", { class: "cartao", "aria-label": "Carrinho" }, h("h2", { text: "Carrinho" }),
    table([["Produto"], ["Quantidade", "num"], ["Mensal", "num"], [""]], cart.items.map((item) => [
      item.name, String(item.quantity), brl(item.monthly_total_cents),
      h("button", { type: "button", class: "link", "aria-label": `Remover ${item.name}`, onclick: async () => {
        await api("DELETE", `/cart/items/${encodeURIComponent(item.sku)}`); refresh(); }, text: "Remover" })])),
    h("p", { text: `Total mensal: ${brl(cart.monthly_total_cents)} (o primeiro mês é cobrado pró-rata)` }),
    h("div", { class: "acoes" }, h("button", { type: "button", onclick: checkout, text: "Finalizar pedido" })));
}
