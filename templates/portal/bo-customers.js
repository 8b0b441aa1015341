// Back office — Clientes (operators): the customers, registering one, a customer's page (address,
// contract terms and items, users and their MFA, dunning) and "Ver como cliente", which puts the
// operator inside the customer's portal (X-Organization-Id, see core.js api()) under a banner.
import { api, can, dateBR, dialog, field, go, guarded, h, notify, refresh, state, table } from "./core.js";

export const PAYMENT_LABELS = { boleto: "Boleto", deposito: "Depósito em conta" };
const CONTRACT_STATUS = { awaiting_acceptance: "Aguardando aceite", active: "Ativo", terminating: "Em rescisão",
  terminated: "Rescindido" };
const ROLE_LABELS = { master: "Master", adm: "Adm", cobranca: "Cobrança", suporte: "Suporte" };

export const cnpjBR = (cnpj) => (cnpj && /^\d{14}$/.test(cnpj)
  ? cnpj.replace(/^(\d{2})(\d{3})(\d{3})(\d{4})(\d{2})$/, "$1.$2.$3/$4-$5") : cnpj || "—");
// Compare without accents or case: "sao" finds "São".
export const plain = (text) => (text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();

// The API's error names a field by its JSON path (master.email, address.cep): the user reads the
// label it typed into instead, and the field is marked invalid.
export function labelled(error, inputs) {
  const path = error.details && error.details.field;
  if (!path) return error;
  const key = Object.keys(inputs).find((k) => path === k || path.endsWith(`.${k}`) || path.startsWith(`${k}[`)) ||
    Object.keys(inputs).find((k) => path.startsWith(`${k}.`));
  if (!key) return error;
  const [label, input] = inputs[key];
  if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
  let message = error.message.split(`'${path}'`).join(`"${label}"`).split(`(${path})`).join(`(${label})`);
  if (message === error.message && !message.includes(label)) message = `${label}: ${message}`;
  const named = new Error(message);
  named.status = error.status; named.code = error.code;
  return named;
}

// Required fields checked before sending, in words naming the label (never the browser's bubble:
// forms are novalidate).
export function requireFilled(inputs) {
  for (const [label, input] of Object.values(inputs)) {
    if (!input) continue;
    input.removeAttribute("aria-invalid");
    if (input.required && !(input.type === "checkbox" ? input.checked : input.value.trim())) {
      input.setAttribute("aria-invalid", "true"); input.focus();
      throw new Error(input.type === "checkbox" ? `Marque "${label}".` : `Preencha o campo "${label}".`);
    }
  }
}

export async function submitLabelled(form, inputs, action) {
  await guarded(form, async () => {
    requireFilled(inputs);
    try { await action(); } catch (error) { throw labelled(error, inputs); }
  });
}

export function paymentSelect(value) {
  return h("select", {}, Object.entries(PAYMENT_LABELS).map(([v, text]) => h("option", { value: v, selected: v === value, text })));
}

// The NFS-e taker's address, as ADDRESS_BODY takes it.
export function addressInputs(address = {}) {
  const a = address || {};
  const input = (name, attrs = {}) => h("input", { name, value: a[name] || "", ...attrs });
  return {
    "address.cep": ["CEP", input("cep", { required: true, inputmode: "numeric", maxlength: 10, autocomplete: "postal-code" })],
    "address.street": ["Logradouro", input("street", { required: true, maxlength: 120 })],
    "address.number": ["Número", input("number", { required: true, maxlength: 20 })],
    "address.complement": ["Complemento", input("complement", { maxlength: 60 })],
    "address.district": ["Bairro", input("district", { required: true, maxlength: 60 })],
    "address.city_code": ["Código IBGE do município", input("city_code", { required: true, inputmode: "numeric", maxlength: 7 })],
  };
}
export function addressValue(inputs) {
  const value = {};
  for (const [key, [, input]] of Object.entries(inputs)) {
    if (!key.startsWith("address.")) continue;
    const text = input.value.trim();
    if (text || input.required) value[key.slice(8)] = text;
  }
  return value;
}
export const addressFieldset = (inputs) => h("fieldset", { class: "grade" }, h("legend", { text: "Endereço (tomador da nota fiscal)" }),
  Object.entries(inputs).filter(([k]) => k.startsWith("address.")).map(([, [label, input]]) => field(label, input)));
export const addressText = (a) => (a ? [a.street, a.number, a.complement, a.district, `${a.city}/${a.state}`, `CEP ${a.cep.replace(/^(\d{5})/, "$1-")}`]
  .filter(Boolean).join(", ") : "Endereço pendente: complete-o para emitir notas fiscais.");
export const contactsValue = (text) => text.split(/[\s,;]+/).map((e) => e.trim()).filter(Boolean);

// Every page of a back-office list (a few hundred customers at most).
async function everything(path) {
  const items = [];
  let token = null;
  do {
    const page = await api("GET", `${path}?limit=100${token ? `&next_token=${encodeURIComponent(token)}` : ""}`);
    items.push(...page.items); token = page.next_token;
  } while (token && items.length < 2000);
  return items;
}

export async function customersScreen(id) {
  return id ? customerPage(id) : customerList();
}

async function customerList() {
  const customers = await everything("/backoffice/organizations");
  const search = h("input", { type: "search", placeholder: "Razão social ou CNPJ" });
  const result = h("div", { "aria-live": "polite" });
  const show = () => {
    const words = plain(search.value).trim();
    const digits = search.value.replace(/\D/g, "");
    const shown = customers.filter((c) => !words || plain(c.name).includes(words) || (digits && (c.cnpj || "").includes(digits)));
    result.replaceChildren(shown.length ? table([["Razão social"], ["CNPJ"], ["Endereço"], ["Cliente desde"], ["Ações"]], shown.map((c) => [
      c.name, cnpjBR(c.cnpj), c.address ? "Completo" : h("span", { class: "etiqueta aguardando", text: "Pendente" }), dateBR(c.created_at),
      h("a", { href: `#/clientes/${c.id}`, "aria-label": `Abrir ${c.name}`, text: "Abrir" })]))
      : h("p", { class: "vazio", text: customers.length ? "Nenhum cliente encontrado com essa busca." : "Nenhum cliente cadastrado ainda." }));
  };
  search.addEventListener("input", show);
  show();
  return [h("h1", { text: "Clientes" }),
    h("div", { class: "barra-filtros" }, field("Buscar cliente", search),
      h("button", { type: "button", onclick: createDialog, text: "Cadastrar cliente" })),
    result];
}

function createDialog() {
  const box = dialog("Cadastrar cliente", (close) => {
    const inputs = {
      company_name: ["Razão social", h("input", { required: true, maxlength: 150 })],
      cnpj: ["CNPJ", h("input", { required: true, inputmode: "numeric", maxlength: 18, placeholder: "00.000.000/0000-00" })],
      tenant_domain: ["Domínio Microsoft (opcional)", h("input", { maxlength: 253, placeholder: "empresa.onmicrosoft.com" })],
      existing_microsoft_customer: ["Já é cliente Microsoft (vincular o tenant do domínio)", h("input", { type: "checkbox" })],
      closing_day: ["Dia de fechamento", h("input", { type: "number", min: 1, max: 28, value: 10, required: true })],
      payment_method: ["Forma de pagamento", paymentSelect("boleto")],
      "master.name": ["Nome do Master", h("input", { required: true, maxlength: 120, autocomplete: "off" })],
      "master.email": ["E-mail do Master", h("input", { type: "email", required: true, maxlength: 254, autocomplete: "off" })],
      billing_contacts: ["Contatos de cobrança", h("input", { maxlength: 2600 })],
      ...addressInputs(),
    };
    const f = (key, hint) => field(inputs[key][0], inputs[key][1], hint);
    const form = h("form", { novalidate: true },
      h("div", { class: "grade" }, f("company_name"), f("cnpj"), f("closing_day", "De 1 a 28."), f("payment_method")),
      h("div", { class: "grade" }, f("tenant_domain"), h("label", { class: "marcar" }, inputs.existing_microsoft_customer[1], inputs.existing_microsoft_customer[0])),
      h("fieldset", { class: "grade" }, h("legend", { text: "Primeiro Master (recebe o convite)" }), f("master.name"), f("master.email")),
      f("billing_contacts", "E-mails separados por vírgula; vazio: o do Master."),
      addressFieldset(inputs),
      h("div", { class: "acoes" }, h("button", { type: "submit", text: "Cadastrar" }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitLabelled(form, inputs, async () => {
        const domain = inputs.tenant_domain[1].value.trim();
        const created = await api("POST", "/backoffice/organizations", {
          company_name: inputs.company_name[1].value, cnpj: inputs.cnpj[1].value,
          closing_day: Number(inputs.closing_day[1].value), payment_method: inputs.payment_method[1].value,
          master: { name: inputs["master.name"][1].value, email: inputs["master.email"][1].value },
          billing_contacts: contactsValue(inputs.billing_contacts[1].value), address: addressValue(inputs),
          ...(domain ? { tenant_domain: domain } : {}),
          existing_microsoft_customer: inputs.existing_microsoft_customer[1].checked,
        }, { "Idempotency-Key": `cliente-${Date.now()}-${Math.random().toString(36).slice(2)}` });
        close();
        notify(`Cliente cadastrado. Convite enviado a ${created.master.email}.`);
        go(`#/clientes/${created.organization.id}`);
      });
    });
    return form;
  });
  box.classList.add("largo");
}

async function customerPage(id) {
  const asCustomer = { "X-Organization-Id": id };
  const [org, contract, dunning] = await Promise.all([
    api("GET", `/backoffice/organizations/${encodeURIComponent(id)}`),
    api("GET", "/contract", undefined, asCustomer),
    api("GET", `/backoffice/organizations/${encodeURIComponent(id)}/dunning`).catch(() => null),
  ]);
  const users = h("section", { class: "cartao", "aria-busy": "true", "aria-labelledby": "usuarios-titulo" },
    h("h2", { id: "usuarios-titulo", text: "Usuários" }), h("p", { class: "carregando", text: "Carregando usuários…" }));
  loadUsers(users, id);
  return [
    h("p", {}, h("a", { href: "#/clientes", text: "← Clientes" })),
    h("h1", { text: org.name }),
    h("div", { class: "acoes" }, can("act_for_customers") && h("button", { type: "button", onclick: () => viewAs(org), text: "Ver como cliente" })),
    h("section", { class: "cartao" }, h("h2", { text: "Dados do cliente" }),
      h("dl", { class: "dados" },
        h("dt", { text: "Razão social" }), h("dd", { text: org.name }),
        h("dt", { text: "CNPJ" }), h("dd", { text: cnpjBR(org.cnpj) }),
        h("dt", { text: "Domínio Microsoft" }), h("dd", { text: org.tenant_domain || "—" }),
        h("dt", { text: "Endereço" }), h("dd", { text: addressText(org.address) }),
        h("dt", { text: "Cliente desde" }), h("dd", { text: dateBR(org.created_at) })),
      h("div", { class: "acoes" }, h("button", { type: "button", class: "secundario", onclick: () => addressDialog(org),
        text: org.address ? "Alterar endereço" : "Completar endereço" }))),
    await contractSection(id, contract),
    users,
    dunning && dunningSection(dunning),
  ];
}

async function contractSection(id, contract) {
  const editableItems = contract.status === "awaiting_acceptance";
  const products = editableItems ? (await api("GET", "/backoffice/catalog/products").catch(() => ({ items: [] }))).items : [];
  const items = contract.items.map((i) => ({ ...i }));
  const inputs = {
    payment_method: ["Forma de pagamento", paymentSelect(contract.payment_method)],
    closing_day: ["Dia de fechamento", h("input", { type: "number", min: 1, max: 28, value: contract.closing_day, required: true })],
  };
  const list = h("div", {});
  const drawItems = () => list.replaceChildren(items.length ? table([["Produto"], ["SKU"], ["Quantidade", "num"], ["Ações"]], items.map((item, index) => {
    const quantity = h("input", { type: "number", min: 1, value: item.quantity, class: "curto", "aria-label": `Quantidade de ${item.name}` });
    quantity.addEventListener("input", () => { item.quantity = Number(quantity.value); });
    return [item.name, item.sku, editableItems ? quantity : String(item.quantity),
      editableItems ? h("button", { type: "button", class: "link", "aria-label": `Remover ${item.name} do contrato`,
        onclick: () => { items.splice(index, 1); drawItems(); }, text: "Remover" }) : ""];
  })) : h("p", { class: "vazio", text: "Nenhum item no contrato." }));
  drawItems();
  let adder = null;
  if (editableItems) {
    const product = h("select", {}, h("option", { value: "", text: "Escolha um produto" }),
      products.filter((p) => !items.some((i) => i.sku === p.sku)).map((p) => h("option", { value: p.sku, text: p.name })));
    const quantity = h("input", { type: "number", min: 1, value: 1, class: "curto" });
    adder = h("div", { class: "barra-filtros" }, field("Produto", product), field("Quantidade", quantity),
      h("button", { type: "button", class: "secundario", text: "Adicionar item", onclick: () => {
        const chosen = products.find((p) => p.sku === product.value);
        if (!chosen) { notify("Escolha um produto para adicionar."); product.focus(); return; }
        items.push({ sku: chosen.sku, name: chosen.name, quantity: Number(quantity.value) || 1 });
        product.querySelector(`option[value="${CSS.escape(chosen.sku)}"]`).remove();
        drawItems();
      } }));
  }
  const form = h("form", { novalidate: true, class: "cartao", "aria-labelledby": "contrato-titulo" },
    h("h2", { id: "contrato-titulo", text: "Contrato" }),
    h("p", {}, "Situação: ", h("strong", { text: CONTRACT_STATUS[contract.status] || contract.status }),
      contract.accepted_at ? ` · aceito em ${dateBR(contract.accepted_at)}` : ""),
    h("p", { text: `Contatos de cobrança: ${contract.billing_contacts.join(", ") || "—"}` }),
    contract.scheduled_change && h("p", { class: "dica", text: `Mudança agendada a partir de ${dateBR(contract.scheduled_change.effective_from)}: `
      + `${PAYMENT_LABELS[contract.scheduled_change.payment_method] || ""}, fechamento no dia ${contract.scheduled_change.closing_day}.` }),
    h("div", { class: "grade" }, field(inputs.payment_method[0], inputs.payment_method[1]),
      field(inputs.closing_day[0], inputs.closing_day[1], "De 1 a 28; vale a partir do próximo período.")),
    h("h3", { text: "Itens contratados" }),
    !editableItems && h("p", { class: "dica", text: "Os itens só mudam até o aceite do contrato; depois, pelas licenças do cliente." }),
    list, adder,
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Salvar contrato" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitLabelled(form, { ...inputs, items: ["Itens contratados", null] }, async () => {
      const body = { payment_method: inputs.payment_method[1].value, closing_day: Number(inputs.closing_day[1].value) };
      if (editableItems) body.items = items.map((i) => ({ sku: i.sku, quantity: i.quantity }));
      await api("PATCH", `/backoffice/organizations/${encodeURIComponent(id)}/contract`, body, { "If-Match": String(contract.version) });
      notify("Contrato salvo."); refresh();
    });
  });
  return form;
}

async function loadUsers(section, id) {
  const title = section.querySelector("h2");
  try {
    const { items } = await api("GET", "/users?limit=100", undefined, { "X-Organization-Id": id });
    section.replaceChildren(title, items.length ? table([["Nome"], ["E-mail"], ["Perfis"], ["Situação"], ["Verificação em duas etapas"], ["Ações"]],
      items.map((u) => [u.name, u.email, u.roles.map((r) => ROLE_LABELS[r] || r).join(", "), u.status === "active" ? "Ativo" : "Convidado",
        u.mfa_enrolled_at ? `Cadastrada em ${dateBR(u.mfa_enrolled_at)}` : "Não cadastrada",
        u.mfa_enrolled_at ? h("button", { type: "button", class: "secundario", "aria-label": `Redefinir a verificação em duas etapas de ${u.name}`,
          onclick: () => resetMfa(u), text: "Redefinir verificação" }) : ""]))
      : h("p", { class: "vazio", text: "Nenhum usuário nesta organização." }));
  } catch (error) {
    section.replaceChildren(title, h("p", { class: "erro", role: "alert", text: `Não foi possível carregar os usuários: ${error.message}` }));
  } finally {
    section.setAttribute("aria-busy", "false");
  }
}

function resetMfa(user) {
  dialog(`Redefinir a verificação de ${user.name}`, (close) => {
    const form = h("form", {},
      h("p", { text: `${user.name} (${user.email}) precisará cadastrar o aplicativo autenticador de novo no próximo acesso. `
        + "Faça isso só depois de confirmar a identidade da pessoa." }),
      h("div", { class: "acoes" }, h("button", { type: "submit", class: "perigo", text: "Redefinir" }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        await api("POST", `/backoffice/users/${encodeURIComponent(user.id)}/mfa/reset`, undefined, { "If-Match": String(user.version) });
        close(); notify(`Verificação em duas etapas de ${user.name} redefinida.`); refresh();
      });
    });
    return form;
  });
}

function addressDialog(org) {
  dialog(`Endereço de ${org.name}`, (close) => {
    const inputs = addressInputs(org.address);
    const form = h("form", { novalidate: true }, addressFieldset(inputs),
      h("div", { class: "acoes" }, h("button", { type: "submit", text: "Salvar endereço" }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const bare = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k.slice(8), v]));
      submitLabelled(form, { ...inputs, ...bare }, async () => {
        await api("PUT", `/backoffice/organizations/${encodeURIComponent(org.id)}/address`, addressValue(inputs),
          { "If-Match": String(org.version) });
        close(); notify("Endereço salvo."); refresh();
      });
    });
    return form;
  });
}

function dunningSection(dunning) {
  const p = dunning.effective;
  const days = (n) => (n == null ? "—" : `${n} dias após o vencimento`);
  return h("section", { class: "cartao" }, h("h2", { text: "Régua de cobrança" }),
    h("dl", { class: "dados" },
      h("dt", { text: "Lembretes" }), h("dd", { text: p.reminder_days.length ? `${p.reminder_days.join(", ")} dias após o vencimento` : "Nenhum" }),
      h("dt", { text: "Bloqueio de compras" }), h("dd", { text: days(p.block_day) }),
      h("dt", { text: "Aviso de suspensão" }), h("dd", { text: days(p.warning_day) }),
      h("dt", { text: "Suspensão" }), h("dd", { text: p.hold_suspension ? "Segurada pelo operador" : days(p.suspension_day) })),
    h("p", { class: "dica", text: Object.values(dunning.override || {}).some((v) => v != null) ? "Esta régua tem ajustes do operador sobre a padrão da revenda." : "Régua padrão da revenda." }));
}

// --- "Ver como cliente" ---------------------------------------------------------------------------

function viewAs(org) {
  state.actingFor = { id: org.id, name: org.name };
  sessionStorage.setItem("actingFor", JSON.stringify(state.actingFor));
  state.me = null; // /me again: the header names the organisation now worked in
  go("#/painel");
}

export function stopActing() {
  const back = state.actingFor && state.actingFor.id;
  state.actingFor = null;
  sessionStorage.removeItem("actingFor");
  state.me = null;
  go(back ? `#/clientes/${back}` : "#/clientes");
}

// Shown on every screen while an operator works inside a customer's organisation.
export function actingBanner() {
  if (!state.actingFor || !state.me || !state.me.user.roles.includes("operator")) return null;
  return h("div", { class: "faixa-ver-como", role: "region", "aria-label": "Visão de cliente" },
    h("span", { text: `Você está vendo o portal como ${state.actingFor.name}` }),
    h("button", { type: "button", class: "secundario", onclick: stopActing, text: "Voltar ao back office" }));
}
