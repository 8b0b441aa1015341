// Back office — Faturamento mensal (operators): start a billing run for a period (after a
// confirmation naming it), follow its progress (polled while contracts are still being billed) and
// the recent runs, the daily automatic ones included.
import { api, dateBR, dialog, field, go, guarded, h, onLogout, view } from "./core.js";

const MONTHS = ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro", "novembro", "dezembro"];
export const periodText = (period) => { const [y, m] = period.split("-"); return `${MONTHS[Number(m) - 1]} de ${y}`; };
// A run not finished an hour after it started is stuck (the morning watch's rule,
// services/billing_watch.py): its failed contracts wait in the billing error queue for a redrive.
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

const names = new Map();
onLogout(() => names.clear());
async function customerName(id) {
  if (!names.has(id)) names.set(id, api("GET", `/backoffice/organizations/${encodeURIComponent(id)}`).then((o) => o.name, () => id));
  return names.get(id);
}

// The contracts whose latest attempt failed, and why (the worker records it; a retry that goes
// through clears it).
async function failuresOf(id) {
  const { items } = await api("GET", `/backoffice/billing-runs/${encodeURIComponent(id)}/failures`);
  return Promise.all(items.map(async (f) => ({ ...f, name: await customerName(f.organization_id) })));
}

function failureList(failures) {
  return h("ul", { class: "falhas" }, failures.map((f) => h("li", {},
    h("a", { href: `#/clientes/${encodeURIComponent(f.organization_id)}`, text: f.name }),
    h("span", { text: `: ${f.message} (${f.attempts} ${f.attempts === 1 ? "tentativa" : "tentativas"}, a última em ${dateBR(f.at)})` }))));
}

async function runPage(id) {
  const [run, firstFailures] = await Promise.all([api("GET", `/backoffice/billing-runs/${encodeURIComponent(id)}`),
    failuresOf(id).catch(() => [])]);
  const turn = view.turn;
  const progress = h("progress", { max: 1, value: 0, "aria-labelledby": "progresso-rotulo" });
  const label = h("p", { id: "progresso-rotulo" });
  const counts = h("dl", { class: "dados" });
  const status = h("div", { "aria-live": "polite" });
  const problems = h("div", {});
  const draw = (r, failures) => {
    label.textContent = r.contracts_queued ? `${r.processed} de ${r.contracts_queued} contratos processados` : "Nenhum contrato a faturar neste período";
    progress.max = Math.max(r.contracts_queued, 1);
    progress.value = r.complete ? progress.max : r.processed;
    counts.replaceChildren(...COUNTS.flatMap(([key, text]) => [h("dt", { text }), h("dd", { "data-contagem": key, text: String(r[key]) })]));
    const missing = r.contracts_queued - r.processed;
    status.replaceChildren(r.complete
      ? h("p", { class: "sucesso", text: `Faturamento concluído: ${r.invoices_issued} ${r.invoices_issued === 1 ? "fatura emitida" : "faturas emitidas"}.` })
      : stalled(r)
        ? h("p", { class: "erro", text: `${missing} ${missing === 1 ? "contrato sem resultado aguarda" : "contratos sem resultado aguardam"} na fila de erros do faturamento. `
          + "Corrija a causa e reprocesse a fila (redrive): o faturamento continua de onde parou." })
        : h("p", { text: "Em andamento: esta página se atualiza sozinha." }));
    problems.replaceChildren(failures.length && !r.complete ? h("div", { class: "cartao falhou", role: "alert" },
      h("h2", { text: failures.length === 1 ? "1 contrato com falha" : `${failures.length} contratos com falha` }),
      h("p", { class: "dica", text: "Cada contrato é tentado de novo sozinho; depois de algumas tentativas vai para a fila de erros." }),
      failureList(failures)) : "");
  };
  draw(run, firstFailures);
  if (!run.complete && !stalled(run)) poll(id, turn, draw);
  return [h("p", {}, h("a", { href: "#/faturamento", text: "← Faturamento mensal" })),
    h("h1", { text: `Faturamento de ${periodText(run.period)}` }),
    h("p", { class: "dica", text: `Iniciado em ${dateBR(run.started_at)} · ${startedBy(run)}` }),
    h("section", { class: "cartao" }, label, progress, counts, status), problems];
}

// Poll while the screen is still this run's (the router's render turn): stop once complete.
function poll(id, turn, draw) {
  setTimeout(async () => {
    if (turn !== view.turn) return;
    let run = null;
    let failures = [];
    try {
      run = await api("GET", `/backoffice/billing-runs/${encodeURIComponent(id)}`);
      if (!run.complete) failures = await failuresOf(id);
    } catch (error) { run = null; }
    if (turn !== view.turn) return;
    if (run) draw(run, failures);
    if (!run || (!run.complete && !stalled(run))) poll(id, turn, draw);
  }, POLL_MS);
}
