// Back office — Faturamento mensal (operators): start a billing run for a period (after a
// confirmation naming it), follow its progress (polled while contracts are still being billed) and
// the recent runs, the daily automatic ones included.
import { api, dateBR, dialog, field, go, guarded, h, view } from "./core.js";

const MONTHS = ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro", "novembro", "dezembro"];
export const periodText = (period) => { const [y, m] = period.split("-"); return `${MONTHS[Number(m) - 1]} de ${y}`; };
// A run not finished an hour after it started has contracts that failed (the morning watch's rule,
// services/billing_watch.py): they wait in the billing error queue for the operators to redrive.
const STALLED_AFTER_MS = 60 * 60 * 1000;
const POLL_MS = 1500;
const stalled = (run) => !run.complete && Date.now() - new Date(run.started_at).getTime() > STALLED_AFTER_MS;
const situation = (run) => (run.complete ? "Concluído" : stalled(run) ? "Com falhas" : "Em andamento");
const startedBy = (run) => (run.started_by === "system" || !run.started_by ? "Automático" : "Operador");

export async function billingRunsScreen(id) {
  return id ? runPage(decodeURIComponent(id)) : runsList();
}

async function runsList() {
  const first = await api("GET", "/backoffice/billing-runs?limit=20");
  const now = new Date();
  // Month and year as selects: <input type=month> speaks the browser's language (and Safari has none).
  const month = h("select", {}, MONTHS.map((name, i) => h("option", { value: String(i + 1).padStart(2, "0"), selected: i === now.getMonth(), text: name })));
  const year = h("select", {}, [now.getFullYear() - 1, now.getFullYear(), now.getFullYear() + 1].map((y) =>
    h("option", { value: String(y), selected: y === now.getFullYear(), text: String(y) })));
  const form = h("form", { novalidate: true, class: "cartao", "aria-labelledby": "iniciar-titulo" },
    h("h2", { id: "iniciar-titulo", text: "Iniciar faturamento" }),
    h("p", { class: "dica", text: "Fatura os contratos de todos os dias de fechamento do período que já passaram. "
      + "Um contrato já faturado no período não é faturado de novo." }),
    h("fieldset", { class: "barra-filtros" }, h("legend", { text: "Período" }), field("Mês", month), field("Ano", year)),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Iniciar faturamento" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    confirmStart(`${year.value}-${month.value}`);
  });
  const body = h("tbody", {});
  const more = h("div", { class: "acoes" });
  const add = (page) => {
    body.append(...page.items.map(runRow));
    more.replaceChildren(page.next_token ? h("button", { type: "button", class: "secundario", text: "Carregar mais", onclick: async (event) => {
      event.target.disabled = true;
      try { add(await api("GET", `/backoffice/billing-runs?limit=20&next_token=${encodeURIComponent(page.next_token)}`)); } catch (error) { event.target.disabled = false; more.append(h("p", { class: "erro", role: "alert", text: error.message })); }
    } }) : "");
  };
  add(first);
  return [h("h1", { text: "Faturamento mensal" }), form,
    h("section", { "aria-labelledby": "recentes-titulo" }, h("h2", { id: "recentes-titulo", text: "Faturamentos recentes" }),
      first.items.length ? h("table", { class: "responsiva" },
        h("thead", {}, h("tr", {}, ["Período", "Iniciado em", "Por", "Contratos", "Faturas emitidas", "Situação", "Ações"].map((text, i) =>
          h("th", { scope: "col", class: i === 3 || i === 4 ? "num" : "", text })))), body) : h("p", { class: "vazio", text: "Nenhum faturamento ainda." }),
      more)];
}

function runRow(run) {
  const cell = (rotulo, content, cls = "") => h("td", { "data-rotulo": rotulo, class: cls }, content);
  return h("tr", {},
    cell("Período", periodText(run.period)), cell("Iniciado em", dateBR(run.started_at)), cell("Por", startedBy(run)),
    cell("Contratos", String(run.contracts_queued), "num"), cell("Faturas emitidas", String(run.invoices_issued), "num"),
    cell("Situação", h("span", { class: `etiqueta ${run.complete ? "" : stalled(run) ? "erro" : "aguardando"}`, text: situation(run) })),
    cell("Ações", h("a", { href: `#/faturamento/${encodeURIComponent(run.run_id)}`,
      "aria-label": `Abrir o faturamento de ${periodText(run.period)} iniciado em ${dateBR(run.started_at)}`, text: "Abrir" })));
}

function confirmStart(period) {
  dialog("Confirmar faturamento", (close) => {
    const form = h("form", {},
      h("p", { text: `Faturar o período de ${periodText(period)}? As faturas saem para os clientes por e-mail assim que emitidas.` }),
      h("div", { class: "acoes" }, h("button", { type: "submit", text: `Faturar ${periodText(period)}` }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    const key = `faturamento-${period}-${Date.now()}`;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        const { run_id: runId } = await api("POST", "/backoffice/billing-runs", { period }, { "Idempotency-Key": key });
        close(); go(`#/faturamento/${encodeURIComponent(runId)}`);
      });
    });
    return form;
  });
}

const COUNTS = [["contracts_queued", "Contratos enfileirados"], ["invoices_issued", "Faturas emitidas"],
  ["already_invoiced", "Já faturados antes"], ["nothing_to_bill", "Sem nada a faturar"], ["not_closed_yet", "Período ainda não fechado"]];

async function runPage(id) {
  const run = await api("GET", `/backoffice/billing-runs/${encodeURIComponent(id)}`);
  const turn = view.turn;
  const title = h("h1", { text: `Faturamento de ${periodText(run.period)}` });
  const progress = h("progress", { max: Math.max(run.contracts_queued, 1), value: run.complete ? Math.max(run.contracts_queued, 1) : run.processed,
    "aria-labelledby": "progresso-rotulo" });
  const label = h("p", { id: "progresso-rotulo" });
  const counts = h("dl", { class: "dados" });
  const state = h("div", { "aria-live": "polite" });
  const section = h("section", { class: "cartao", "aria-busy": "false" }, label, progress, counts, state);
  const draw = (r) => {
    label.textContent = r.contracts_queued ? `${r.processed} de ${r.contracts_queued} contratos processados` : "Nenhum contrato a faturar neste período";
    progress.max = Math.max(r.contracts_queued, 1);
    progress.value = r.complete ? progress.max : r.processed;
    counts.replaceChildren(...COUNTS.flatMap(([key, text]) => [h("dt", { text }), h("dd", { "data-contagem": key, text: String(r[key]) })]));
    const missing = r.contracts_queued - r.processed;
    state.replaceChildren(r.complete
      ? h("p", { class: "sucesso", role: "status", text: `Faturamento concluído: ${r.invoices_issued} ${r.invoices_issued === 1 ? "fatura emitida" : "faturas emitidas"}.` })
      : stalled(r)
        ? h("div", { class: "erro", role: "alert" },
          h("p", { text: `${missing} ${missing === 1 ? "contrato falhou" : "contratos falharam"} e ${missing === 1 ? "aguarda" : "aguardam"} na fila de erros do faturamento.` }),
          h("p", { text: "Causas comuns: preço ausente no catálogo, dados do contrato incompletos ou o emissor da nota fora do ar. "
            + "Corrija e reprocesse a fila de erros (redrive); o faturamento continua de onde parou." }))
        : h("p", { text: "Em andamento: esta página se atualiza sozinha." }));
  };
  draw(run);
  if (!run.complete && !stalled(run)) poll(id, turn, draw);
  return [h("p", {}, h("a", { href: "#/faturamento", text: "← Faturamento mensal" })), title,
    h("p", { class: "dica", text: `Iniciado em ${dateBR(run.started_at)} · ${startedBy(run)}` }), section];
}

// Poll while the screen is still this run's (the router's render turn): stop once complete.
function poll(id, turn, draw) {
  setTimeout(async () => {
    if (turn !== view.turn) return;
    let run;
    try { run = await api("GET", `/backoffice/billing-runs/${encodeURIComponent(id)}`); } catch (error) { run = null; }
    if (turn !== view.turn) return;
    if (run) draw(run);
    if (!run || (!run.complete && !stalled(run))) poll(id, turn, draw);
  }, POLL_MS);
}
