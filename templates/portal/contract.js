// Contrato: status, the contract's text to read (and its PDF), the Master's acceptance through an
// explicit confirmation, billing contacts and the reseller's contacts; the banner asking a Master to
// accept, shown on every screen.
import { api, brl, can, dateBR, dialog, errorBox, field, guarded, h, notify, refresh, state, table } from "./core.js";

// A Master whose contract awaits acceptance sees, on every screen, where to read and accept it.
export async function contractBanner() {
  if (!state.me || !can("accept_contract") || can("back_office")) return null;
  let contract;
  try { contract = await api("GET", "/contract"); } catch { return null; }
  if (contract.status !== "awaiting_acceptance") return null;
  return h("div", { class: "faixa-contrato", role: "status", id: "faixa-contrato" },
    h("span", { text: "O contrato da sua organização aguarda o seu aceite: as licenças contratadas só são provisionadas depois dele." }),
    h("a", { href: "#/contrato", text: "Ler e aceitar o contrato" }));
}

function documentSection(doc) {
  return h("section", { class: "cartao documento-contrato", "aria-labelledby": "titulo-documento" },
    // "Termos e preços", not the title: a second heading saying "Contrato" would blur the screen's own.
    h("h2", { id: "titulo-documento", text: "Termos e preços" }),
    h("p", {}, h("strong", { id: "titulo-contrato", text: doc.title })),
    h("p", { class: "dica", id: "versao-documento", text: `Versão ${doc.version}` }),
    h("div", { class: "acoes" }, h("a", { class: "botao secundario", id: "baixar-contrato", href: doc.pdf_url,
      text: `Baixar o contrato em PDF (versão ${doc.version})` })),
    doc.sections.map((s) => h("div", { class: "clausula" }, h("h3", { text: s.heading }),
      s.paragraphs.map((p) => h("p", { text: p })))),
    h("h3", { text: "Itens contratados" }),
    doc.items.length
      ? table([["Item"], ["Quantidade", "num"], ["Preço mensal por licença", "num"], ["Valor mensal", "num"]],
          doc.items.map((i) => [i.name, String(i.quantity), i.unit_price_cents == null ? "—" : brl(i.unit_price_cents),
            i.monthly_cents == null ? "—" : brl(i.monthly_cents)]))
      : h("p", { text: "Nenhum item contratado." }),
    h("p", {}, h("strong", { id: "total-mensal-contrato", text: `Total mensal: ${brl(doc.total_monthly_cents)}` })));
}

// The acceptance, explicit: the version being accepted and a required checkbox before POST /contract/accept.
function acceptDialog(contract, doc) {
  dialog(`Aceitar o contrato (versão ${doc.version})`, (close) => {
    const box = h("input", { type: "checkbox", id: "li-e-aceito", required: true });
    const errors = h("div");
    const confirm = h("button", { type: "submit", id: "confirmar-aceite", text: "Confirmar aceite" });
    const form = h("form", { novalidate: true },
      h("p", { text: `Você está aceitando o texto do contrato na versão ${doc.version}, com os itens e preços mostrados nesta página (total mensal ${brl(doc.total_monthly_cents)}). O aceite registra a data, o seu usuário e a versão.` }),
      h("p", { class: "confirmacao" }, box, h("label", { for: "li-e-aceito", text: `Li e aceito os termos do contrato (versão ${doc.version})` })),
      errors,
      h("div", { class: "acoes" }, confirm, h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      errors.replaceChildren();
      if (!box.checked) {
        box.setAttribute("aria-invalid", "true");
        errors.append(errorBox({ message: `Marque "Li e aceito os termos do contrato (versão ${doc.version})" para confirmar o aceite.` }));
        box.focus();
        return;
      }
      confirm.disabled = true;
      try {
        // The version read is the one recorded: a text changed since is refused (409) and shown again.
        await api("POST", "/contract/accept", { document_version: doc.version }, { "If-Match": String(contract.version) });
        close();
        // Accepting orders the contracted licences: the panel shows them while they are provisioned.
        notify(contract.items.length ? "Contrato aceito. As licenças contratadas estão em provisionamento." : "Contrato aceito.");
        if (contract.items.length && can("view_licences")) location.hash = "#/painel"; else refresh();
      } catch (error) {
        // A new text: "Tentar novamente" shows it (the page again, with the version to read).
        errors.append(errorBox(error, error.code === "contract_version_changed" ? { retry: () => { close(); refresh(); } } : {}));
        confirm.disabled = false;
      }
    });
    return form;
  });
}

export async function contractScreen() {
  const [contract, contacts, doc] = await Promise.all([api("GET", "/contract"), api("GET", "/support/contacts"),
    api("GET", "/contract/document").catch((error) => ({ error }))]);
  const waiting = contract.status === "awaiting_acceptance";
  const labels = { awaiting_acceptance: "Aguardando aceite", active: "Ativo", terminating: "Em rescisão", terminated: "Encerrado" };
  const readable = doc && !doc.error;
  return [h("h1", { text: "Contrato" }),
    h("section", { class: "cartao" },
      h("p", {}, "Situação: ", h("strong", { id: "situacao-contrato", text: labels[contract.status] || contract.status })),
      h("p", { text: `Fechamento todo dia ${contract.closing_day} · pagamento por ${contract.payment_method === "boleto" ? "boleto" : "depósito"}` }),
      contract.accepted_at ? h("p", { class: "dica", id: "aceite-registrado", text: `Aceito em ${dateBR(contract.accepted_at)} (versão ${contract.accepted_version})` }) : null,
      waiting && can("accept_contract") && readable ? h("div", { class: "acoes" }, h("button", { type: "button", id: "aceitar-contrato",
        onclick: () => acceptDialog(contract, doc), text: "Aceitar contrato" })) : null,
      waiting && !can("accept_contract") ? h("p", { class: "dica", text: "O aceite do contrato é feito pelo usuário Master." }) : null),
    readable ? documentSection(doc) : h("section", { class: "cartao" }, errorBox(doc.error)),
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
