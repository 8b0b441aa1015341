// Faturas: the list, an invoice with its lines, its boleto (with the bank's Pix "copia e cola" and the
// second copy, previewed before it is issued) or deposit details, and its nota fiscal.
import { api, brl, dateBR, dialog, errorBox, h, newKey, notify, refresh, table } from "./core.js";

// negative lines; a credit left for the next invoices is a line moving it to a credit note).
function invoiceRows(invoice) {
  return invoice.lines.map((l) => [l.description, l.amount_cents]);
}

export const INVOICE_STATUS = { open: "Em aberto", overdue: "Vencida", paid: "Paga", cancelled: "Cancelada" };
const STATUS_CLASS = { paid: "ok", overdue: "erro", cancelled: "cancelada" };

export async function invoicesScreen(id) {
  if (id) return invoiceDetail(id);
  const { items } = await api("GET", "/invoices");
  return [h("h1", { text: "Faturas" }), items.length
    ? table([["Nº"], ["Período"], ["Vencimento"], ["Total", "num"], ["Situação"], ["Ações"]], items.map((i) => [
        String(i.number), `${dateBR(i.period_start)} a ${dateBR(i.period_end)}`, dateBR(i.due_date), brl(i.total_cents),
        h("span", { class: `etiqueta ${STATUS_CLASS[i.status] || ""}`, text: INVOICE_STATUS[i.status] || i.status }),
        h("a", { href: `#/faturas/${i.id}`, "aria-label": `Abrir a fatura nº ${i.number}`, text: "Abrir" })]))
    : h("p", { class: "cartao", id: "faturas-vazio", text: "Nenhuma fatura emitida ainda. A primeira chega depois do fechamento do mês." })];
}

async function copy(value, what) {
  try { await navigator.clipboard.writeText(value); notify(`${what} copiado.`); }
  catch { notify("Não foi possível copiar; selecione o código e copie."); }
}

// The boleto in force: its linha digitável, the bank's Pix beside it, the download, the second copy
// (an overdue invoice) and the boletos a second copy replaced, no longer payable.
function boletoSection(invoice, boleto) {
  const pix = boleto.pix_payload ? h("div", { class: "pix", id: "pix" },
    h("h3", { text: "Pix copia e cola" }),
    h("p", { class: "linha-digitavel", id: "pix-copia-e-cola", text: boleto.pix_payload }),
    boleto.pix_expires_on ? h("p", { class: "dica", text: `Pagável por Pix até ${dateBR(boleto.pix_expires_on)}.` }) : null,
    h("button", { type: "button", class: "secundario", id: "copiar-pix", onclick: () => copy(boleto.pix_payload, "Código Pix"),
      text: "Copiar código Pix" })) : null;
  const replaced = boleto.replaced || [];
  return [h("h2", { text: boleto.kind === "second_copy" ? "Boleto (segunda via)" : "Boleto" }),
    h("p", { id: "boleto-em-vigor" }, h("strong", { text: `Valor ${brl(boleto.amount_cents)}` }),
      ` · vencimento ${dateBR(boleto.due_date)}`),
    h("h3", { text: "Linha digitável" }),
    h("p", { class: "linha-digitavel", id: "linha-digitavel", text: boleto.digitable_line_formatted }),
    h("div", { class: "acoes" },
      h("a", { class: "botao", id: "baixar-boleto", href: boleto.pdf_url, text: "Baixar boleto" }),
      h("button", { type: "button", class: "secundario", onclick: () => copy(boleto.digitable_line, "Linha digitável"),
        text: "Copiar linha digitável" }),
      // What the API allows (an overdue boleto invoice, even before the nightly job marks it `overdue`).
      (invoice.second_copy_available ?? invoice.status === "overdue") ? h("button", { type: "button", id: "emitir-segunda-via",
        onclick: () => secondCopyDialog(invoice), text: "Emitir segunda via" }) : null),
    pix,
    replaced.length ? h("div", { id: "boletos-substituidos" }, h("h3", { text: "Boletos substituídos" }),
      h("ul", {}, replaced.map((b) => h("li", {},
        h("span", { class: "etiqueta", text: "Substituído" }),
        ` Vencimento ${dateBR(b.due_date)} · ${brl(b.amount_cents)} — não pague este boleto nem o seu Pix.`)))) : null];
}


// Before a second copy: what it charges (balance, fine, interest, total) and its due date, from the
// API's preview (the same rules the second copy is issued with); then confirm. The POST names the
// previewed total and due date: if they changed (a payment, a day gone by), the API refuses (409)
// and the dialog shows the fresh preview to confirm again.
async function secondCopyDialog(invoice, notice = null) {
  let preview;
  try { preview = await api("GET", `/invoices/${invoice.id}/second-copy-preview`); }
  catch (error) { notify(error.message); return; }
  const key = newKey(`2via-${invoice.id}`);
  dialog("Emitir segunda via", (close) => {
    const errors = h("div", {}, notice ? h("p", { class: "erro caixa-erro", id: "previa-mudou", role: "alert", text: notice }) : null);
    const confirm = h("button", { type: "button", id: "confirmar-segunda-via", text: "Confirmar e emitir" });
    confirm.addEventListener("click", async () => {
      confirm.disabled = true; errors.replaceChildren();
      try {
        await api("POST", `/invoices/${invoice.id}/second-copy`,
          { expected_total_cents: preview.total_cents, expected_due_date: preview.due_date }, { "Idempotency-Key": key });
        close(); notify("Segunda via emitida e enviada por e-mail."); refresh();
      } catch (error) {
        if (error.code === "second_copy_quote_changed") { close(); secondCopyDialog(invoice, error.message); return; }
        errors.append(errorBox(error)); confirm.disabled = false;
      }
    });
    return h("div", { id: "previa-segunda-via" },
      h("p", { text: `Fatura nº ${invoice.number}, vencida em ${dateBR(invoice.due_date)}. A segunda via substitui o boleto atual, que deixa de valer (com o seu Pix).` }),
      h("dl", { class: "previa" },
        h("dt", { text: "Saldo em aberto" }), h("dd", { id: "previa-saldo", text: brl(preview.amount_cents) }),
        h("dt", { text: "Multa" }), h("dd", { id: "previa-multa", text: brl(preview.fine_cents) }),
        h("dt", { text: "Juros" }), h("dd", { id: "previa-juros", text: brl(preview.interest_cents) }),
        h("dt", { text: "Total a pagar" }), h("dd", { id: "previa-total" }, h("strong", { text: brl(preview.total_cents) })),
        h("dt", { text: "Novo vencimento" }), h("dd", { id: "previa-vencimento", text: dateBR(preview.due_date) })),
      errors,
      h("div", { class: "acoes" }, confirm,
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
  });
}

// No boleto in force: for a boleto invoice, the bank has not registered it yet (or refused it and the
// reseller is fixing it) — said in plain words, with what to do.
function noBoleto(error) {
  if (error.code === "boleto_not_available") {
    return h("p", { class: "dica", id: "boleto-pendente", role: "status",
      text: "O boleto desta fatura ainda não está disponível: o banco ainda não o registrou. Ele aparece aqui e chega por e-mail assim que estiver pronto; se precisar pagar antes, fale com o atendimento." });
  }
  return errorBox(error);
}

async function invoiceDetail(id) {
  const invoice = await api("GET", `/invoices/${id}`);
  const docs = h("div", { class: "acoes" });
  if (invoice.pdf_url) docs.append(h("a", { class: "botao secundario", href: invoice.pdf_url, text: "Baixar fatura (PDF)" }));
  const boletoBox = h("div");
  const cancellation = invoice.cancellation;
  if (cancellation) {
    // A cancelled invoice keeps its number; its boleto was cancelled at the bank: nothing to pay.
    boletoBox.append(h("h2", { text: "Fatura cancelada" }), h("p", { id: "cancelamento",
      text: `Cancelada em ${dateBR(cancellation.cancelled_at)}. Motivo: ${cancellation.reason}` }));
    if (cancellation.reissued_invoice_id) {
      boletoBox.append(h("p", {}, h("a", { href: `#/faturas/${cancellation.reissued_invoice_id}`,
        text: `Substituída pela fatura nº ${cancellation.reissued_number}` })));
    }
  } else if (invoice.status === "paid") {
    boletoBox.append(h("h2", { text: "Pagamento" }), h("p", { id: "fatura-paga", text: "Esta fatura está paga. Obrigado!" }));
  } else if (invoice.payment_method === "boleto") {
    try {
      boletoBox.append(...boletoSection(invoice, await api("GET", `/invoices/${id}/boleto`)).filter(Boolean));
    } catch (error) { boletoBox.append(h("h2", { text: "Boleto" }), noBoleto(error)); }
  } else if (invoice.deposit) {
    const d = invoice.deposit;
    boletoBox.append(h("h2", { text: "Depósito bancário" }),
      h("dl", { id: "dados-deposito" }, [["Banco", d.bank], ["Agência", d.agency], ["Conta", d.account],
        ["Favorecido", d.beneficiary], ["CNPJ", d.cnpj], ["Chave Pix", d.pix_key]]
        .filter(([, value]) => value).flatMap(([label, value]) => [h("dt", { text: label }), h("dd", { text: value })])));
  }
  if (invoice.nfse_status === "pending") {
    docs.append(h("span", { class: "dica", id: "nfse-pendente", text: "Nota fiscal em processamento" }));
  } else {
    try {
      const nfse = await api("GET", `/invoices/${id}/nfse`);
      docs.append(h("a", { class: "botao secundario", href: nfse.pdf_url, text: `Nota fiscal nº ${nfse.number} (PDF)` }),
                  h("a", { class: "botao secundario", href: nfse.xml_url, text: "Nota fiscal (XML)" }));
    } catch { /* not issued */ }
  }
  const paid = invoice.paid_cents > 0 && invoice.status !== "paid"
    ? h("p", { text: `Pago até agora: ${brl(invoice.paid_cents)} · saldo em aberto: ${brl(invoice.balance_cents)}` }) : null;
  return [h("p", {}, h("a", { href: "#/faturas", text: "← Faturas" })),
    h("h1", { text: `Fatura nº ${invoice.number}` }),
    h("section", { class: "cartao" },
      h("p", {}, `Período ${dateBR(invoice.period_start)} a ${dateBR(invoice.period_end)} · vencimento ${dateBR(invoice.due_date)} · `,
        h("span", { class: `etiqueta ${STATUS_CLASS[invoice.status] || ""}`, id: "situacao-fatura", text: INVOICE_STATUS[invoice.status] || invoice.status })),
      table([["Descrição"], ["Valor", "num"]], invoiceRows(invoice).map(([text, cents]) => [text, brl(cents)])),
      h("p", {}, h("strong", { text: `Total: ${brl(invoice.total_cents)}` })), paid, docs),
    h("section", { class: "cartao" }, boletoBox)];
}
