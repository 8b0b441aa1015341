// Back office — Interessados (operators): the contract requests of the public form, filtered by
// status and searched by company, CNPJ or contact; a lead's page; its conversion into a customer,
// once the operator has confirmed the contact who becomes the Master.
import { api, dateBR, dialog, field, go, h, refresh } from "./core.js";
import { addressFieldset, addressInputs, addressValue, cnpjBR, contactsValue, paymentSelect, plain, submitLabelled } from "./bo-customers.js";

const LEAD_STATUS = { new: "Novo", specialists: "Especialistas", converted: "Convertido" };

async function allLeads() {
  const items = [];
  let token = null;
  do {
    const page = await api("GET", `/backoffice/leads?limit=100${token ? `&next_token=${encodeURIComponent(token)}` : ""}`);
    items.push(...page.items); token = page.next_token;
  } while (token && items.length < 2000);
  return items;
}

const statusTag = (lead) => h("span", { class: `etiqueta ${lead.status === "converted" ? "" : "aguardando"}`, text: LEAD_STATUS[lead.status] || lead.status });

export async function leadsScreen(id) {
  const leads = await allLeads();
  if (id) {
    const lead = leads.find((l) => l.id === decodeURIComponent(id));
    if (!lead) return [h("h1", { text: "Interessado" }), h("p", { class: "erro", role: "alert", text: "Solicitação não encontrada." }),
      h("p", {}, h("a", { href: "#/interessados", text: "← Interessados" }))];
    return leadPage(lead);
  }
  const status = h("select", {}, h("option", { value: "", text: "Todas" }),
    Object.entries(LEAD_STATUS).map(([value, text]) => h("option", { value, text })));
  const search = h("input", { type: "search", placeholder: "Empresa, CNPJ ou contato" });
  const result = h("div", { "aria-live": "polite" });
  const show = () => {
    const words = plain(search.value).trim();
    const digits = search.value.replace(/\D/g, "");
    const shown = leads.filter((l) => (!status.value || l.status === status.value) && (!words ||
      plain(l.company_name).includes(words) || plain(l.contact_name).includes(words) || plain(l.email).includes(words) ||
      (digits.length >= 2 && l.cnpj.includes(digits))));
    result.replaceChildren(shown.length ? table(shown) : h("p", { class: "vazio",
      text: leads.length ? "Nenhum interessado encontrado com esses filtros." : "Nenhuma solicitação de contratação recebida ainda." }));
  };
  status.addEventListener("change", show);
  search.addEventListener("input", show);
  show();
  return [h("h1", { text: "Interessados" }),
    h("div", { class: "barra-filtros" }, field("Situação", status), field("Buscar", search)), result];
}

function table(leads) {
  return h("table", { class: "responsiva" },
    h("thead", {}, h("tr", {}, ["Empresa", "CNPJ", "Contato", "Recebida em", "Situação", "Ações"].map((text) => h("th", { scope: "col", text })))),
    h("tbody", {}, leads.map((l) => h("tr", {},
      h("td", { "data-rotulo": "Empresa", text: l.company_name }),
      h("td", { "data-rotulo": "CNPJ", text: cnpjBR(l.cnpj) }),
      h("td", { "data-rotulo": "Contato", text: `${l.contact_name} · ${l.email}` }),
      h("td", { "data-rotulo": "Recebida em", text: dateBR(l.created_at) }),
      h("td", { "data-rotulo": "Situação" }, statusTag(l)),
      h("td", { "data-rotulo": "Ações" }, h("a", { href: `#/interessados/${encodeURIComponent(l.id)}`, "aria-label": `Abrir ${l.company_name}`, text: "Abrir" }))))));
}

function leadPage(lead) {
  return [
    h("p", {}, h("a", { href: "#/interessados", text: "← Interessados" })),
    h("h1", { text: lead.company_name }),
    h("section", { class: "cartao" }, h("h2", { text: "Solicitação" }),
      h("dl", { class: "dados" },
        h("dt", { text: "CNPJ" }), h("dd", { text: cnpjBR(lead.cnpj) }),
        h("dt", { text: "Contato" }), h("dd", { text: lead.contact_name }),
        h("dt", { text: "E-mail" }), h("dd", { text: lead.email }),
        h("dt", { text: "Telefone" }), h("dd", { text: lead.phone }),
        h("dt", { text: "Produtos de interesse" }), h("dd", { text: lead.products_of_interest.join(", ") || "—" }),
        h("dt", { text: "Já é cliente Microsoft" }), h("dd", { text: lead.existing_microsoft_customer ? `Sim (${lead.tenant_domain || "domínio não informado"})` : "Não" }),
        h("dt", { text: "Recebida em" }), h("dd", { text: dateBR(lead.created_at) }),
        h("dt", { text: "Situação" }), h("dd", {}, statusTag(lead))),
      h("div", { class: "acoes" }, lead.status === "converted"
        ? lead.organization_id && h("a", { class: "botao", href: `#/clientes/${lead.organization_id}`, text: "Abrir o cliente" })
        : h("button", { type: "button", onclick: () => convertDialog(lead), text: "Converter em cliente" }))),
  ];
}

export function convertDialog(lead) {
  let converted = false;
  const box = dialog(`Converter ${lead.company_name} em cliente`, (close) => {
    const inputs = {
      "master.name": ["Nome do Master", h("input", { required: true, maxlength: 120, value: lead.contact_name, autocomplete: "off" })],
      "master.email": ["E-mail do Master", h("input", { type: "email", required: true, maxlength: 254, value: lead.email, autocomplete: "off" })],
      confirmed: ["Confirmo que o contato foi verificado", h("input", { type: "checkbox", required: true })],
      closing_day: ["Dia de fechamento", h("input", { type: "number", min: 1, max: 28, value: 10, required: true })],
      payment_method: ["Forma de pagamento", paymentSelect("boleto")],
      billing_contacts: ["Contatos de cobrança", h("input", { required: true, maxlength: 2600 })],
      ...addressInputs(),
    };
    const f = (key, hint) => field(inputs[key][0], inputs[key][1], hint);
    const form = h("form", { novalidate: true },
      h("p", { text: "O Master recebe o convite do portal. O formulário pode ter sido preenchido por outra pessoa: "
        + "confirme o nome e o e-mail com a empresa antes de converter." }),
      h("fieldset", { class: "grade" }, h("legend", { text: "Contato que será o Master" }), f("master.name"), f("master.email")),
      h("label", { class: "marcar" }, inputs.confirmed[1], inputs.confirmed[0]),
      h("div", { class: "grade" }, f("closing_day", "De 1 a 28."), f("payment_method")),
      f("billing_contacts", `Quem recebe faturas e boletos; e-mails separados por vírgula. Sugestão do formulário: ${lead.email}`),
      addressFieldset(inputs),
      h("div", { class: "acoes" }, h("button", { type: "submit", text: "Converter" }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    const key = `converter-${lead.id}-${Date.now()}`;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitLabelled(form, inputs, async () => {
        const created = await api("POST", `/backoffice/leads/${encodeURIComponent(lead.id)}/convert`, {
          closing_day: Number(inputs.closing_day[1].value), payment_method: inputs.payment_method[1].value,
          master: { name: inputs["master.name"][1].value, email: inputs["master.email"][1].value },
          billing_contacts: contactsValue(inputs.billing_contacts[1].value), address: addressValue(inputs),
        }, { "Idempotency-Key": key });
        converted = true;
        form.replaceChildren(
          h("p", { role: "status", text: `Cliente ${created.organization.name} criado, com o contrato aguardando o aceite.` }),
          h("p", { text: `Convite enviado para ${created.master.name} (${created.master.email}).` }),
          h("div", { class: "acoes" },
            h("button", { type: "button", onclick: () => { close(); go(`#/clientes/${created.organization.id}`); }, text: "Abrir o cliente" }),
            h("button", { type: "button", class: "secundario", onclick: close, text: "Fechar" })));
        form.querySelector("button").focus();
      });
    });
    return form;
  });
  box.classList.add("largo");
  // Closed any way after converting (Esc too), the page behind shows the lead converted.
  box.addEventListener("close", () => { if (converted) refresh(); });
  return box;
}
