// Faturas: the list, an invoice with its lines, boleto or deposit details, and its nota fiscal.
import { api, brl, dateBR, h, notify, refresh, table } from "./core.js";

// negative lines; a credit left for the next invoices is a line moving it to a credit note).
function invoiceRows(invoice) {
  return invoice.lines.map((l) => [l.description, l.amount_cents]);
}

export const INVOICE_STATUS = { open: "Em aberto", overdue: "Vencida", paid: "Paga", cancelled: "Cancelada" };

export async function invoicesScreen(id) {
  if (id) return invoiceDetail(id);
  const { items } = await api("GET", "/invoices");
  return [h("h1", { text: "Faturas" }), items.length
    ? table([["Nº"], ["Período"], ["Vencimento"], ["Total", "num"], ["Situação"], [""]], items.map((i) => [
        String(i.number), `${dateBR(i.period_start)} a ${dateBR(i.period_end)}`, dateBR(i.due_date), brl(i.total_cents),
        h("span", { class: `etiqueta ${i.status === "paid" ? "ok" : i.status === "overdue" ? "erro" : ""}`, text: INVOICE_STATUS[i.status] }),
        h("a", { href: `#/faturas/${i.id}`, text: "Abrir" })]))
    : h("p", { class: "cartao", text: "Nenhuma fatura ainda." })];
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
  } else if (invoice.payment_method === "boleto") {
    try {
      const boleto = await api("GET", `/invoices/${id}/boleto`);
      boletoBox.append(h("h2", { text: "Boleto" }),
        h("p", { class: "linha-digitavel", id: "linha-digitavel", text: boleto.digitable_line_formatted }),
        h("p", { text: `Vencimento ${dateBR(boleto.due_date)} · ${brl(boleto.amount_cents)}` }),
        h("div", { class: "acoes" },
          h("a", { class: "botao", id: "baixar-boleto", href: boleto.pdf_url, text: "Baixar boleto" }),
          h("button", { type: "button", class: "secundario", onclick: async () => {
            try { await navigator.clipboard.writeText(boleto.digitable_line); notify("Linha digitável copiada."); }
            catch { notify("Não foi possível copiar; selecione a linha e copie."); } }, text: "Copiar linha digitável" }),
          invoice.status === "overdue" ? h("button", { type: "button", onclick: async () => {
            try { await api("POST", `/invoices/${id}/second-copy`, undefined, { "Idempotency-Key": `2via-${id}-${Date.now()}` });
                  notify("Segunda via emitida e enviada por e-mail."); refresh(); } catch (error) { notify(error.message); } },
            text: "Emitir segunda via" }) : null));
    } catch (error) { boletoBox.append(h("p", { class: "dica", text: error.message })); }
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
  return [h("p", {}, h("a", { href: "#/faturas", text: "← Faturas" })),
    h("h1", { text: `Fatura nº ${invoice.number}` }),
    h("section", { class: "cartao" },
      h("p", { text: `Período ${dateBR(invoice.period_start)} a ${dateBR(invoice.period_end)} · vencimento ${dateBR(invoice.due_date)} · ${INVOICE_STATUS[invoice.status]}` }),
      table([["Descrição"], ["Valor", "num"]], invoiceRows(invoice).map(([text, cents]) => [text, brl(cents)])),
      h("p", {}, h("strong", { text: `Total: ${brl(invoice.total_cents)}` })), docs),
    h("section", { class: "cartao" }, boletoBox)];
}
