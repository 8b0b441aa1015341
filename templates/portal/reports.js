// Relatórios: the spend report of the period (GET /reports/spend) — a stacked bar per month
// (charts.js), the table of groups, totals in R$ and the same report as CSV; and the operator's
// across customers (GET /backoffice/reports/spend, #/bo-relatorios), which also groups by customer.
import { api, brl, errorBox, field, guarded, h, notify, refresh, saveBlob, table } from "./core.js";
import { monthLabel, stackedBars } from "./charts.js";

const GROUPS = { family: "Família de produtos", product: "Produto", month: "Mês", organization: "Cliente" };
// What each screen asked for last (kept while the portal is open; the router renders again on a change).
const chosen = { customer: { from: "", to: "", group_by: "family" }, backoffice: { from: "", to: "", group_by: "organization" } };

export const reportsScreen = () => spendReport({ side: "customer", path: "/reports/spend", groups: ["family", "product", "month"],
                                               heading: "Relatórios de gastos" });
export const backofficeReportsScreen = () => spendReport({ side: "backoffice", path: "/backoffice/reports/spend",
                                                           groups: ["organization", "family", "product", "month"],
                                                           heading: "Relatório de gastos dos clientes" });

function query(path, filters) {
  const params = new URLSearchParams();
  for (const name of ["from", "to", "group_by"]) if (filters[name]) params.set(name, filters[name]);
  return `${path}?${params}`;
}

async function spendReport({ side, path, groups, heading }) {
  const filters = chosen[side];
  let report = null, failure = null;
  try { report = await api("GET", query(path, filters)); } catch (error) { failure = error; }
  // The period the API answered (its defaults: the last 12 months) fills the inputs.
  if (report) Object.assign(filters, { from: report.from, to: report.to });
  return [h("h1", { text: heading }), filterForm(side, path, groups, filters),
          failure ? errorBox(failure) : reportView(report, side)];
}

function filterForm(side, path, groups, filters) {
  const from = h("input", { type: "month", name: "from", value: filters.from, required: true, min: "2000-01" });
  const to = h("input", { type: "month", name: "to", value: filters.to, required: true, min: "2000-01" });
  const groupBy = h("select", { name: "group_by" }, groups.map((g) => h("option", { value: g, text: GROUPS[g] })));
  groupBy.value = filters.group_by;
  const download = h("button", { type: "button", class: "secundario", id: "baixar-csv", text: "Baixar CSV" });
  const form = h("form", { class: "cartao barra-filtros", "aria-label": "Período e agrupamento do relatório" },
    field("De (mês)", from), field("Até (mês)", to), field("Agrupar por", groupBy),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Atualizar" }), download));
  const read = () => ({ from: from.value, to: to.value, group_by: groupBy.value });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const wanted = read();
      await api("GET", query(path, wanted));  // a bad period answers its error next to the form
      Object.assign(filters, wanted);
      refresh();
    });
  });
  groupBy.addEventListener("change", () => form.requestSubmit());
  download.addEventListener("click", () => downloadCsv(download, path, read(), side));
  return form;
}

async function downloadCsv(button, path, wanted, side) {
  button.disabled = true;
  try {
    // Through api(): an expired token is refreshed and the request sent again, a network error in words.
    const csv = await api("GET", query(path, wanted), undefined, { Accept: "text/csv" }, { as: "blob" });
    const filename = `${side === "backoffice" ? "gastos-clientes" : "gastos"}-${wanted.from}-a-${wanted.to}.csv`;
    saveBlob(csv, filename);
  } catch (error) {
    if (error.code !== "session_expired") notify(error.message);
  } finally { button.disabled = false; }
}

function reportView(report, side) {
  const period = `${monthLabel(report.from)} a ${monthLabel(report.to)}`;
  const totals = h("section", { class: "cartao totais-relatorio", "aria-label": "Totais do período" },
    h("p", {}, "Total do período: ", h("strong", { id: "total-relatorio", text: brl(report.total_cents) })),
    h("p", { text: `Créditos usados: ${brl(report.credits_cents)}` }));
  if (!report.months.some((m) => m.total_cents !== 0 || m.groups.length)) {
    return [totals, h("section", { class: "cartao" }, h("p", { text: `Nenhuma fatura de ${period}.` }))];
  }
  const by = GROUPS[report.group_by].toLowerCase();
  const chart = h("section", { class: "cartao gastos", "aria-labelledby": "relatorio-grafico-titulo" },
    h("h2", { id: "relatorio-grafico-titulo", text: `Gastos por mês e ${by}` }),
    stackedBars({ id: "relatorio", months: report.months, series: report.groups.map((g) => ({ key: g.key, label: g.label })),
                  title: `Gastos por mês e ${by}`, caption: `Gastos por mês e ${by}, ${period}`,
                  label: `Gráfico de gastos por mês e ${by}` }));
  const rows = report.groups.map((g) => [g.label, brl(g.amount_cents)]);
  rows.push(["Créditos", brl(report.credits_cents)]);
  rows.push([h("strong", { text: "Total" }), h("strong", { text: brl(report.total_cents) })]);
  const groupsTable = h("section", { class: "cartao", "aria-labelledby": "relatorio-tabela-titulo" },
    h("h2", { id: "relatorio-tabela-titulo", text: `Por ${by}, ${period}` }),
    table([[GROUPS[report.group_by]], ["Valor", "num"]], rows));
  return [totals, chart, groupsTable,
          h("p", { class: "dica", text: side === "backoffice"
            ? "Valores das faturas emitidas a todos os clientes, pelo mês de fechamento, já descontados créditos e faturas canceladas."
            : "Valores das faturas emitidas, pelo mês de fechamento, já descontados créditos e faturas canceladas." })];
}
