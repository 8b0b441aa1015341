// Integrações: the organisation's webhook endpoints (the customer's ERP receives its events), the
// signing secret shown once after creation, a test event, removal, and per endpoint its deliveries
// with "Reenviar". The API: /webhooks, /webhooks/{id}/deliveries, …/test, …/deliveries/{id}/resend.
import { api, dateBR, dialog, field, guarded, h, markInvalid, newKey, notify, refresh } from "./core.js";

export const EVENT_LABELS = {
  "invoice.issued": "Fatura emitida",
  "invoice.paid": "Fatura paga",
  "invoice.overdue": "Fatura vencida",
  "invoice.cancelled": "Fatura cancelada",
  "subscription.changed": "Assinatura alterada",
  "ticket.updated": "Chamado atualizado",
};
const eventLabel = (type) => EVENT_LABELS[type] || (type === "webhook.test" ? "Teste" : type);
const MAX_ENDPOINTS = 10;

// "14:05" in the customer's time (São Paulo), as the retry's hour.
const hourBR = (iso) => new Date(iso).toLocaleTimeString("pt-BR", { timeZone: "America/Sao_Paulo", hour: "2-digit", minute: "2-digit" });

// The delivery's state in words (and the tag's colour).
export function deliveryStatus(d) {
  switch (d.status) {
    case "delivered": return ["Entregue", "ok"];
    case "retrying": return [d.next_attempt_at ? `Nova tentativa às ${hourBR(d.next_attempt_at)}` : "Nova tentativa em breve", "pendente"];
    case "failed": return ["Falhou", "erro"];
    case "pending": return ["Pendente", "pendente"];
    default: return [d.status, ""];
  }
}

// What the receiver answered last: its HTTP status, or the error that kept it from answering.
function lastAnswer(d) {
  const status = d.last_status_code != null ? `HTTP ${d.last_status_code}` : "";
  if (status && d.last_error && d.last_error.startsWith(status)) return d.last_error;  // says the status already
  return [status, d.last_error].filter(Boolean).join(" · ") || "—";
}

// Errors the API gives about the URL: said next to the URL field.
const URL_ERRORS = /^webhook_url/;

export async function webhooksScreen() {
  const { items } = await api("GET", "/webhooks");
  const pages = await Promise.all(items.map((e) => api("GET", deliveriesPath(e))
    .catch((error) => ({ items: [], error }))));
  const add = h("button", { type: "button", id: "adicionar-endpoint", text: "Adicionar endpoint", onclick: addDialog,
    disabled: items.length >= MAX_ENDPOINTS });
  return [h("h1", { text: "Integrações" }),
    h("section", { class: "cartao", "aria-labelledby": "titulo-webhooks" },
      h("h2", { id: "titulo-webhooks", text: "Webhooks" }),
      h("p", { text: "O portal avisa o seu sistema (ERP) por HTTPS quando uma fatura é emitida, paga, vence ou é cancelada, "
        + "quando uma assinatura muda e quando um chamado é atualizado. Cada envio é assinado com o segredo do endpoint "
        + "(cabeçalho X-CSP-Signature) e, se o seu sistema não responder 2xx, é repetido por até 24 horas." }),
      items.length >= MAX_ENDPOINTS ? h("p", { class: "dica", text: `Limite de ${MAX_ENDPOINTS} endpoints atingido: remova um para adicionar outro.` }) : null,
      h("div", { class: "acoes" }, add,
        h("button", { type: "button", class: "secundario", id: "atualizar-webhooks", text: "Atualizar", onclick: refresh }))),
    items.length ? items.map((endpoint, i) => endpointCard(endpoint, pages[i]))
      : h("p", { class: "vazio", id: "webhooks-vazio", text: "Nenhum endpoint cadastrado." })];
}

function endpointCard(endpoint, page) {
  const titleId = `endpoint-${endpoint.id}`;
  return h("section", { class: "cartao endpoint", "aria-labelledby": titleId, "data-endpoint": endpoint.id },
    h("h2", { id: titleId, class: "webhook-url", text: endpoint.url }),
    endpoint.description ? h("p", { text: endpoint.description }) : null,
    h("dl", { class: "dados" },
      h("dt", { text: "Eventos" }), h("dd", { text: endpoint.events.map(eventLabel).join(", ") }),
      h("dt", { text: "Criado em" }), h("dd", { text: dateBR(endpoint.created_at) })),
    h("div", { class: "acoes" },
      h("button", { type: "button", class: "secundario", "aria-label": `Enviar teste para ${endpoint.url}`, text: "Enviar teste",
        onclick: (event) => sendTest(endpoint, event.currentTarget) }),
      h("button", { type: "button", class: "link", "aria-label": `Remover ${endpoint.url}`, text: "Remover",
        onclick: () => removeDialog(endpoint) })),
    deliveries(endpoint, page));
}

// The newest deliveries first, a page at a time ("Carregar mais" adds the older ones below).
const DELIVERIES_PAGE = 20;
const deliveriesPath = (endpoint, token) =>
  `/webhooks/${endpoint.id}/deliveries?limit=${DELIVERIES_PAGE}${token ? `&next_token=${encodeURIComponent(token)}` : ""}`;

function deliveries(endpoint, page) {
  const titleId = `entregas-${endpoint.id}`;
  let body;
  const more = h("div", { class: "acoes" });
  if (page.error) body = h("p", { class: "erro", role: "alert", text: page.error.message });
  else if (!page.items.length) body = h("p", { class: "vazio", text: "Nenhuma entrega ainda." });
  else {
    const rows = h("tbody", {});
    const add = (next) => {
      rows.append(...next.items.map((d) => deliveryRow(endpoint, d)));
      more.replaceChildren(next.next_token ? h("button", { type: "button", class: "secundario", text: "Carregar mais",
        "aria-label": `Carregar entregas mais antigas de ${endpoint.url}`, onclick: async (event) => {
          const button = event.currentTarget;
          button.disabled = true;
          try { add(await api("GET", deliveriesPath(endpoint, next.next_token))); } catch (error) {
            button.disabled = false; more.append(h("p", { class: "erro", role: "alert", text: error.message }));
          }
        } }) : "");
    };
    add(page);
    body = h("table", { class: "responsiva entregas" },
      h("thead", {}, h("tr", {}, ["Evento", "Situação", "Tentativas", "Última resposta", "Quando", "Ações"].map((text) =>
        h("th", { scope: "col", class: text === "Tentativas" ? "num" : "", text })))), rows);
  }
  return h("section", { "aria-labelledby": titleId }, h("h3", { id: titleId, text: "Entregas recentes" }), body, more);
}

function deliveryRow(endpoint, d) {
  const [words, tone] = deliveryStatus(d);
  const when = d.delivered_at || d.last_attempt_at || d.created_at;
  const cells = [
    ["Evento", eventLabel(d.event_type)],
    ["Situação", h("span", { class: `etiqueta ${tone}`, text: words })],
    ["Tentativas", String(d.attempts)],
    ["Última resposta", h("span", { class: "resposta", text: lastAnswer(d) })],
    ["Quando", dateBR(when)],
    ["Ações", h("button", { type: "button", class: "secundario", text: "Reenviar",
      "aria-label": `Reenviar ${eventLabel(d.event_type)} de ${dateBR(d.created_at)}`,
      onclick: (event) => resend(endpoint, d, event.currentTarget) })],
  ];
  return h("tr", { "data-delivery": d.id, "data-status": d.status }, cells.map(([label, cell]) =>
    h("td", { "data-rotulo": label, class: label === "Tentativas" ? "num" : "" }, cell)));
}

async function sendTest(endpoint, button) {
  button.disabled = true;
  try {
    await api("POST", `/webhooks/${endpoint.id}/test`);
    notify("Evento de teste enviado. Atualize para ver o resultado.");
    refresh();
  } catch (error) {
    notify(error.message);
  } finally { button.disabled = false; }
}

async function resend(endpoint, delivery, button) {
  button.disabled = true;
  try {
    await api("POST", `/webhooks/${endpoint.id}/deliveries/${delivery.id}/resend`);
    notify("Evento reenviado. Atualize para ver o resultado.");
    refresh();
  } catch (error) {
    notify(error.message);
  } finally { button.disabled = false; }
}

function addDialog() {
  // One key per dialog: a retry after a lost answer gets the same endpoint (and its secret), not a second one.
  const key = newKey("webhook");
  dialog("Adicionar endpoint", (close) => {
    const url = h("input", { type: "url", name: "url", required: true, maxlength: 2000, autocomplete: "off",
      placeholder: "https://erp.suaempresa.com.br/webhooks/portal" });
    const description = h("input", { name: "description", maxlength: 200, autocomplete: "off" });
    const events = h("fieldset", { class: "opcoes eventos" }, h("legend", { text: "Eventos" }),
      Object.entries(EVENT_LABELS).map(([value, text]) =>
        h("label", {}, h("input", { type: "checkbox", name: "events", value, checked: true }), text, " ", h("code", { text: value }))));
    const form = h("form", { novalidate: true },
      field("URL do endpoint", url, "HTTPS, num endereço público na internet."), events,
      field("Descrição (opcional)", description),
      h("div", { class: "acoes" }, h("button", { type: "submit", text: "Adicionar" }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        if (!url.value.trim()) { markInvalid(url, "URL do endpoint: preencha este campo."); url.focus(); return; }
        const chosen = [...events.querySelectorAll("input:checked")].map((i) => i.value);
        if (!chosen.length) { markInvalid(events.querySelector("input"), "Eventos: escolha ao menos um."); return; }
        const body = { url: url.value.trim(), events: chosen };
        if (description.value.trim()) body.description = description.value.trim();
        let created;
        try {
          created = await api("POST", "/webhooks", body, { "Idempotency-Key": key });
        } catch (error) {
          // The URL refused (not public, not https, unresolvable…): next to the URL field.
          const field = error.details && error.details.field;
          if (URL_ERRORS.test(error.code || "") || field === "url") {
            markInvalid(url, `URL do endpoint: ${error.message}`); url.focus(); return;
          }
          throw error;
        }
        close();
        if (!created.secret) {  // a repeated request: the endpoint exists, its secret was shown once
          notify("Endpoint já cadastrado por este pedido; o segredo só é mostrado uma vez: remova-o e cadastre de novo se não o guardou.");
          return;
        }
        secretDialog(created);
      });
    });
    return form;
  });
}

// The secret exists only in the creation's answer: shown here, once, with a copy button.
function secretDialog(endpoint) {
  dialog("Endpoint adicionado", (close) => {
    const copy = async () => {
      try { await navigator.clipboard.writeText(endpoint.secret); notify("Segredo copiado."); }
      catch { notify("Não foi possível copiar; selecione o segredo e copie."); }
    };
    const box = h("div", {},
      h("p", { class: "webhook-url", text: endpoint.url }),
      h("div", { class: "aviso-segredo", role: "note" },
        h("strong", { text: "Guarde este segredo agora: ele não será mostrado novamente." }),
        h("p", { text: "O seu sistema usa o segredo para conferir a assinatura (X-CSP-Signature) de cada envio. "
          + "Se perdê-lo, remova o endpoint e cadastre-o de novo." })),
      h("p", {}, h("span", { id: "rotulo-segredo", text: "Segredo de assinatura: " }),
        h("code", { id: "segredo-webhook", class: "segredo", text: endpoint.secret })),
      h("div", { class: "acoes" },
        h("button", { type: "button", id: "copiar-segredo", text: "Copiar segredo", onclick: copy }),
        h("button", { type: "button", class: "secundario", text: "Já guardei, fechar", onclick: close })));
    return box;
  }).addEventListener("close", refresh);
}

function removeDialog(endpoint) {
  dialog("Remover endpoint?", (close) => {
    const form = h("form", {},
      h("p", { class: "webhook-url", text: endpoint.url }),
      h("p", { text: "O portal deixa de enviar eventos para este endereço, inclusive as entregas pendentes." }),
      h("div", { class: "acoes" }, h("button", { type: "submit", class: "perigo", text: "Remover" }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => { await api("DELETE", `/webhooks/${endpoint.id}`); close(); notify("Endpoint removido."); refresh(); });
    });
    return form;
  });
}
