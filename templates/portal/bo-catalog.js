// Back office — Catálogo e preços (operators): every product, sold or not, with its Partner Center
// offer; create or edit one, and change its price. A new price takes effect the next day (São
// Paulo): the API keeps the current one until then, and the screen says from when.
import { api, brl, dateBR, dialog, field, guarded, h, notify, refresh, state, table } from "./core.js";
import { parseReais, reaisText, saoPauloDay } from "./bo-receivables.js";
import { limitsText } from "./catalog.js";

const TERM = { P1M: "Mensal (1 mês)", P1Y: "Anual (1 ano)", P3Y: "Trienal (3 anos)" };
const FREQUENCY = { monthly: "Mensal", annual: "Anual", triennial: "Trienal" };
const SKU = /^[A-Z0-9][A-Z0-9-]{1,63}$/;
const OFFER = /^([A-Z0-9]{12}:[A-Z0-9]{4})?$/;

const select = (options, value) => {
  const el = h("select", {}, Object.entries(options).map(([v, text]) => h("option", { value: v, text })));
  if (value) el.value = value;
  return el;
};

function productDialog(product, families) {
  const creating = !product;
  const tomorrow = saoPauloDay(1);
  // The price from tomorrow: a price already marked for then, or today's.
  const priceFrom = product ? (product.next_price ? product.next_price.unit_price_cents : product.unit_price_cents) : null;
  const sku = h("input", { name: "sku", autocomplete: "off", maxlength: 64 });
  const name = h("input", { name: "nome", maxlength: 120, value: product ? product.name : "" });
  const family = h("input", { name: "familia", maxlength: 60, list: "familias-catalogo", value: product ? product.family : "" });
  const term = select(TERM, product && product.term);
  const frequency = select(FREQUENCY, product && product.billing_frequency);
  const price = h("input", { name: "preco", inputmode: "decimal", autocomplete: "off", value: priceFrom == null ? "" : reaisText(priceFrom) });
  const active = h("input", { type: "checkbox", name: "ativo", id: "produto-ativo", checked: product ? product.active : true });
  const offer = h("input", { name: "oferta", autocomplete: "off", maxlength: 17, value: product && product.offer_id ? product.offer_id : "" });
  // Seat limits (#21 §4): named as the API's fields, so its 422 `invalid_quantity_limits` shows next to them.
  const globalMax = state.me.limits.purchase_quantity.maximum;
  const limits = product && product.quantity_limits ? product.quantity_limits : { minimum: 1, maximum: null };
  const minQuantity = h("input", { type: "number", name: "min_quantity", min: 1, max: globalMax, step: 1, required: true, value: limits.minimum });
  const maxQuantity = h("input", { type: "number", name: "max_quantity", min: 1, max: globalMax, step: 1, value: limits.maximum ?? "" });
  dialog(creating ? "Novo produto" : `Editar ${product.name}`, (close) => {
    const form = h("form", {},
      creating ? field("Código (SKU)", sku, "Letras maiúsculas, números e hífen, como MS365-E3.") : h("p", { text: `Código (SKU): ${product.sku}` }),
      field("Nome", name), field("Família", family), h("datalist", { id: "familias-catalogo" }, families.map((f) => h("option", { value: f }))),
      field("Prazo", term), field("Cobrança", frequency),
      field("Preço por licença por mês (R$)", price,
        `Em reais, como 1.234,56. Um preço novo vale a partir de ${dateBR(tomorrow)} (amanhã); até lá vale o atual.`),
      h("div", { class: "opcoes" }, h("label", { for: "produto-ativo" }, active, " À venda no portal")),
      field("Oferta do Partner Center", offer, "productId:skuId, como CFQ7TTC0LH18:0001; em branco, sem oferta."),
      field("Quantidade mínima por compra", minQuantity, "Licenças; 1 quando o produto não exige um mínimo."),
      field("Quantidade máxima", maxQuantity, `Licenças; em branco, sem máximo próprio (vale o geral, ${globalMax}).`),
      h("div", { class: "acoes" }, h("button", { type: "submit", text: "Salvar produto" }),
        h("button", { type: "button", class: "secundario", text: "Voltar", onclick: close })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        const code = creating ? sku.value.trim().toUpperCase() : product.sku;
        if (creating && !SKU.test(code)) throw new Error("Código (SKU): use de 2 a 64 letras maiúsculas, números e hífen, começando por letra ou número.");
        if (!name.value.trim()) throw new Error("Nome: informe o nome do produto.");
        if (!family.value.trim()) throw new Error("Família: informe a família do produto.");
        const cents = parseReais(price.value);
        if (cents == null || cents < 1) throw new Error("Preço por licença por mês (R$): informe o valor em reais, como 1.234,56.");
        const offerId = offer.value.trim().toUpperCase();
        if (!OFFER.test(offerId)) throw new Error("Oferta do Partner Center: use productId:skuId, como CFQ7TTC0LH18:0001.");
        if (creating && (await api("GET", "/backoffice/catalog/products")).items.some((p) => p.sku === code)) {
          throw new Error(`Código (SKU): já existe um produto ${code}; edite-o na lista.`);
        }
        const saved = await api("PUT", `/backoffice/catalog/products/${code}`, {
          name: name.value.trim(), family: family.value.trim(), unit_price_cents: cents, term: term.value,
          billing_frequency: frequency.value, active: active.checked, offer_id: offerId,
          min_quantity: Number(minQuantity.value), max_quantity: maxQuantity.value === "" ? 0 : Number(maxQuantity.value) });
        close();
        const next = saved.next_price;
        notify(next ? `${saved.name} salvo. Novo preço ${brl(next.unit_price_cents)} vale a partir de ${dateBR(next.from)}.`
          : `${saved.name} salvo.`);
        refresh();
      });
    });
    return form;
  });
}

export async function catalogAdminScreen() {
  const { items } = await api("GET", "/backoffice/catalog/products");
  const products = [...items].sort((a, b) => a.family.localeCompare(b.family, "pt-BR") || a.name.localeCompare(b.name, "pt-BR"));
  const families = [...new Set(products.map((p) => p.family))];
  return [h("h1", { text: "Catálogo e preços" }),
    h("p", { class: "dica", text: `Preços por licença por mês. Um preço alterado hoje vale a partir de ${dateBR(saoPauloDay(1))}.` }),
    h("div", { class: "acoes" }, h("button", { type: "button", id: "novo-produto", text: "Novo produto", onclick: () => productDialog(null, families) })),
    products.length
      ? table([["Produto"], ["Família"], ["Prazo"], ["Cobrança"], ["Preço atual", "num"], ["Próximo preço"], ["À venda"], ["Oferta do Partner Center"], ["Ações"]],
        products.map((p) => [
          h("span", {}, h("strong", { text: p.name }), h("br"), h("span", { class: "dica", text: p.sku }),
            limitsText(p.quantity_limits) ? h("span", { class: "dica", text: ` · ${limitsText(p.quantity_limits)}` }) : null),
          p.family, TERM[p.term], FREQUENCY[p.billing_frequency],
          p.unit_price_cents == null ? "Sem preço" : brl(p.unit_price_cents),
          p.next_price ? `${brl(p.next_price.unit_price_cents)} a partir de ${dateBR(p.next_price.from)}` : "—",
          p.active ? h("span", { class: "etiqueta ok", text: "Sim" }) : h("span", { class: "etiqueta", text: "Não" }),
          p.offer_id || "Não informada",
          h("button", { type: "button", class: "secundario", "aria-label": `Editar ${p.name}`, text: "Editar", onclick: () => productDialog(p, families) })]))
      : h("p", { class: "cartao", text: "Nenhum produto no catálogo." })];
}
