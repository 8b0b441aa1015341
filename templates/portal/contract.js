// Contrato: status, acceptance, billing contacts and the reseller's contacts.
import { api, can, dateBR, field, guarded, h, notify, refresh, table } from "./core.js";

export async function contractScreen() {
  const [contract, contacts] = await Promise.all([api("GET", "/contract"), api("GET", "/support/contacts")]);
  const waiting = contract.status === "awaiting_acceptance";
  const labels = { awaiting_acceptance: "Aguardando aceite", active: "Ativo", terminating: "Em rescisão", terminated: "Encerrado" };
  return [h("h1", { text: "Contrato" }),
    h("section", { class: "cartao" },
      h("p", {}, "Situação: ", h("strong", { id: "situacao-contrato", text: labels[contract.status] || contract.status })),
      h("p", { text: `Fechamento todo dia ${contract.closing_day} · pagamento por ${contract.payment_method === "boleto" ? "boleto" : "depósito"}` }),
      contract.items.length ? table([["Item contratado"], ["Quantidade", "num"]], contract.items.map((i) => [i.name, String(i.quantity)])) : null,
      contract.accepted_at ? h("p", { class: "dica", text: `Aceito em ${dateBR(contract.accepted_at)} (versão ${contract.accepted_version})` }) : null,
      waiting && can("accept_contract") ? h("div", { class: "acoes" }, h("button", { type: "button", id: "aceitar-contrato", onclick: async (event) => {
        event.target.disabled = true;
        try {
          await api("POST", "/contract/accept", undefined, { "If-Match": String(contract.version) });
          // Accepting orders the contracted licences: the panel shows them while they are provisioned.
          notify(contract.items.length ? "Contrato aceito. As licenças contratadas estão em provisionamento." : "Contrato aceito.");
          if (contract.items.length && can("view_licences")) location.hash = "#/painel"; else refresh();
        }
        catch (error) { notify(error.message); event.target.disabled = false; } }, text: "Aceitar contrato" })) : null,
      waiting && !can("accept_contract") ? h("p", { class: "dica", text: "O aceite do contrato é feito pelo usuário Master." }) : null),
    can("billing") ? billingContactsSection(contract) : null,
    h("section", { class: "cartao" }, h("h2", { text: "Contatos" }),
      h("p", { text: `Suporte técnico: ${contacts.phone} · ${contacts.email}` }),
      h("p", {}, h("a", { href: contacts.service_desk_url, rel: "noopener", text: "Abrir o service desk" })),
      h("p", { text: `Especialistas: ${contacts.specialists_phone} · ${contacts.specialists_email}` }))];
}

// Who receives invoices and boletos (Master, Cobrança): an address SES reported as undeliverable is
// flagged next to it, as the API says (`undeliverable_contacts`); removing it lifts the suspension.
const UNDELIVERABLE_REASONS = { bounce: "devolveu nossos e-mails (bounce)", complaint: "marcou nossos e-mails como spam (reclamação)" };
const dayBR = (iso) => new Date(iso).toLocaleDateString("pt-BR", { timeZone: "America/Sao_Paulo" });

function billingContactsSection(contract) {
  const flags = Object.fromEntries((contract.undeliverable_contacts || []).map((f) => [f.email, f]));
  const list = h("ul", { id: "contatos-cobranca" }, contract.billing_contacts.map((email) => {
    const flag = flags[email];
    return h("li", { "data-email": email }, h("span", { text: email }), flag ? h("p", { class: "erro contato-suspenso", role: "alert",
      text: `Este endereço ${UNDELIVERABLE_REASONS[flag.reason] || "não recebe nossos e-mails"} em ${dayBR(flag.since)}; os e-mails para ele estão suspensos até que seja alterado.` }) : null);
  }));
  const section = h("section", { class: "cartao", "aria-labelledby": "titulo-contatos-cobranca" },
    h("h2", { id: "titulo-contatos-cobranca", text: "Contatos de cobrança" }),
    h("p", { class: "dica", text: "Recebem as faturas, os boletos e os avisos de cobrança." }), list);
  if (contract.status === "terminated") return section;
  const input = h("textarea", { id: "editar-contatos-cobranca", rows: 3, text: contract.billing_contacts.join("\n") });
  const form = h("form", {}, field("Um endereço por linha (até 10)", input,
    "Um endereço suspenso retirado da lista e incluído de novo depois volta a receber os e-mails."),
    h("div", { class: "acoes" }, h("button", { type: "submit", id: "salvar-contatos-cobranca", text: "Salvar contatos" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const emails = input.value.split(/[\s,;]+/).map((e) => e.trim()).filter(Boolean);
      await api("PATCH", "/contract", { billing_contacts: emails }, { "If-Match": String(contract.version) });
      notify("Contatos de cobrança salvos."); refresh();
    });
  });
  section.append(form);
  return section;
}
