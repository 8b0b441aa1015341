// Exportações (issue #21 §2): invoices with lines, subscriptions, the audit trail of a period as a CSV
// file for the customer's ERP. Each kind is offered only to who holds the capability of its data; the
// API writes the file and answers a short-lived link ("Baixar") with its expiry.
import { api, can, dateBR, field, guarded, h } from "./core.js";

export const EXPORT_CAPABILITIES = ["billing", "view_licences", "read_audit"];

const KINDS = [
  { kind: "invoices", capability: "billing", label: "Faturas com os itens",
    hint: "Uma linha por item de fatura, com os dados da fatura repetidos. Entram as faturas cujo período faturado termina entre as datas, também as canceladas." },
  { kind: "subscriptions", capability: "view_licences", label: "Assinaturas",
    hint: "As assinaturas com ao menos uma licença em algum dia do período: quantidade, prazo, plano, preço unitário mensal e total." },
  { kind: "audit", capability: "read_audit", label: "Trilha de auditoria",
    hint: "Quem fez o quê e quando (horário de Brasília), com os valores antes e depois." },
];

// Today in São Paulo, and the first and last days of its month (AAAA-MM-DD).
function currentMonth() {
  const today = new Date().toLocaleDateString("en-CA", { timeZone: "America/Sao_Paulo" });
  const [year, month] = today.split("-").map(Number);
  const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const mm = String(month).padStart(2, "0");
  return { from: `${year}-${mm}-01`, to: `${year}-${mm}-${String(last).padStart(2, "0")}` };
}

export async function exportsScreen() {
  const kinds = KINDS.filter((k) => can(k.capability));
  const month = currentMonth();
  const hint = h("p", { class: "dica", id: "exportacao-dica", text: kinds.length ? kinds[0].hint : "" });
  const kind = h("select", { name: "kind", id: "exportacao-tipo", "aria-describedby": "exportacao-dica" },
    kinds.map((k) => h("option", { value: k.kind, text: k.label })));
  kind.addEventListener("change", () => { hint.textContent = KINDS.find((k) => k.kind === kind.value).hint; });
  const from = h("input", { type: "date", name: "from", id: "exportacao-de", required: true, value: month.from });
  const to = h("input", { type: "date", name: "to", id: "exportacao-ate", required: true, value: month.to });
  const result = h("div", { id: "resultado-exportacao", "aria-live": "polite" });
  const form = h("form", { class: "cartao", "aria-labelledby": "titulo-gerar-exportacao" },
    h("h2", { id: "titulo-gerar-exportacao", text: "Gerar arquivo" }),
    field("O que exportar", kind), hint,
    h("div", { class: "grade" }, field("De", from), field("Até", to)),
    h("p", { class: "dica", text: "Período de até 366 dias. Arquivo CSV para Excel: separador ponto e vírgula, valores 1.234,56, datas dd/mm/aaaa." }),
    h("div", { class: "acoes" }, h("button", { type: "submit", id: "gerar-exportacao", text: "Gerar arquivo" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    result.replaceChildren();
    guarded(form, async () => {
      const query = new URLSearchParams({ from: from.value, to: to.value });
      const made = await api("GET", `/exports/${kind.value}?${query}`, undefined, { Accept: "application/json" });
      const label = KINDS.find((k) => k.kind === made.kind).label;
      result.replaceChildren(h("section", { class: "cartao", "aria-labelledby": "titulo-arquivo-gerado" },
        h("h2", { id: "titulo-arquivo-gerado", text: "Arquivo gerado" }),
        h("p", { id: "exportacao-resumo", text: `${label} de ${dateBR(made.from)} a ${dateBR(made.to)}: ${made.rows} ${made.rows === 1 ? "linha" : "linhas"} (${made.filename}).` }),
        h("div", { class: "acoes" },
          h("a", { class: "botao", id: "baixar-exportacao", href: made.download_url, download: made.filename,
            "aria-label": `Baixar ${made.filename}`, text: "Baixar" })),
        h("p", { class: "dica", id: "exportacao-validade", text: `Link válido até ${dateBR(made.expires_at)}. Depois disso, gere o arquivo de novo.` })));
    });
  });
  return [h("h1", { text: "Exportações" }),
    h("p", { text: "Arquivos para o sistema de gestão (ERP) da sua empresa, sem redigitar. Cada exportação fica registrada na trilha de auditoria." }),
    form, result];
}
