// Portal Brasoftware Cloud — the browser client of the csp-portal API. No build step: one module.
// Every text from the API goes in with textContent (never innerHTML), so nothing it says runs.

const state = { token: sessionStorage.getItem("token"), refresh: sessionStorage.getItem("refresh"), me: null };
const main = () => document.getElementById("conteudo");

// --- small helpers ------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const brl = (cents) => (cents / 100).toLocaleString("pt-BR", { style: "currency", currency: "BRL" });
const dateBR = (iso) => {
  if (!iso) return "—";
  if (iso.length === 10) { const [y, m, d] = iso.split("-"); return `${d}/${m}/${y}`; }
  return new Date(iso).toLocaleString("pt-BR", { timeZone: "America/Sao_Paulo" });
};
const can = (capability) => state.me && state.me.capabilities.includes(capability);

function notify(message) {
  const box = document.getElementById("aviso");
  box.textContent = message;
  box.classList.add("visivel");
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => box.classList.remove("visivel"), 4000);
}

class ApiError extends Error {
  constructor(status, error) { super(error.message); this.status = status; this.code = error.code; this.details = error.details; }
}

async function api(method, path, body, extraHeaders = {}) {
  const headers = { ...extraHeaders };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (response.status === 401 && state.token) { logout(); throw new ApiError(401, data.error); }
  if (!response.ok) throw new ApiError(response.status, (data && data.error) || { message: "Erro inesperado." });
  return data;
}

function errorBox(error) { return h("p", { class: "erro", role: "alert", text: error.message }); }

async function guarded(form, action) {
  const button = form.querySelector("button[type=submit]");
  form.querySelectorAll(".erro").forEach((e) => e.remove());
  if (button) button.disabled = true;
  try { await action(); } catch (error) { form.append(errorBox(error)); } finally { if (button) button.disabled = false; }
}

function field(label, input, hint) {
  const id = input.id || `campo-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return h("div", {}, h("label", { for: id, text: label }), input, hint ? h("p", { class: "dica", text: hint }) : null);
}

function table(headers, rows, { responsive = true } = {}) {
  return h("table", { class: responsive ? "responsiva" : "" },
    h("thead", {}, h("tr", {}, headers.map(([text, cls]) => h("th", { class: cls || "", scope: "col", text })))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell, i) =>
      h("td", { class: headers[i][1] || "", "data-rotulo": headers[i][0] }, cell))))));
}

function dialog(title, build) {
  const box = h("dialog", { "aria-labelledby": "dialogo-titulo" });
  const close = () => { box.close(); box.remove(); };
  box.append(h("h2", { id: "dialogo-titulo", text: title }), build(close));
  document.body.append(box);
  box.addEventListener("close", () => box.remove());
  box.showModal();
  return box;
}

// --- session ------------------------------------------------------------------------------------

// "Sair" (and a session the API no longer accepts): the session ends at the API too, so its refresh
// token and access tokens stop working everywhere, not only in this tab.
async function logout() {
  const refresh = state.refresh;
  state.token = null; state.refresh = null; state.me = null; state.mfaSetup = null;
  sessionStorage.removeItem("token");
  sessionStorage.removeItem("refresh");
  if (refresh) {
    await fetch("/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify({ refresh_token: refresh }) }).catch(() => {});
  }
  location.hash = "#/entrar";
  render();
}

function passwordDialog() {
  dialog("Trocar senha", (close) => {
    const current = h("input", { type: "password", autocomplete: "current-password", required: true });
    const fresh = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: 10 });
    const form = h("form", {},
      field("Senha atual", current),
      field("Nova senha", fresh, "Mínimo de 10 caracteres, com maiúscula, minúscula, número e símbolo."),
      h("p", { class: "dica", text: "Ao trocar a senha, todas as suas sessões são encerradas, inclusive esta." }),
      h("div", { class: "acoes" },
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" }),
        h("button", { type: "submit", text: "Trocar senha" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        await api("POST", "/auth/password", { current_password: current.value, new_password: fresh.value });
        close();
        state.refresh = null;  // already ended with every other session of the user
        await logout();
        notify("Senha alterada. Entre novamente com a nova senha.");
      });
    });
    return form;
  });
}

function loginScreen() {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "cartao login", "aria-labelledby": "titulo-login" },
    h("h1", { id: "titulo-login", text: "Entrar no portal" }),
    field("E-mail", email), field("Senha", password),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Entrar" })),
    h("p", { class: "dica" }, h("a", { href: "#/privacidade", id: "link-privacidade", text: "Privacidade e proteção de dados (LGPD)" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const result = await api("POST", "/auth/login", { email: email.value, password: password.value });
      if (result.challenge === "NEW_PASSWORD_REQUIRED") return newPasswordScreen(email.value, result.session);
      if (result.challenge === "SOFTWARE_TOKEN_MFA") return mfaCodeScreen(email.value, result.session);
      await signedIn(result.access_token, result.refresh_token);
    });
  });
  return form;
}

function newPasswordScreen(email, session) {
  const password = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: 10 });
  const form = h("form", { class: "cartao login" },
    h("h1", { text: "Defina sua senha" }),
    h("p", { text: "No primeiro acesso, troque a senha temporária recebida por e-mail." }),
    field("Nova senha", password, "Mínimo de 10 caracteres, com maiúscula, minúscula, número e símbolo."),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Salvar e entrar" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const tokens = await api("POST", "/auth/new-password", { email, session, new_password: password.value });
      await signedIn(tokens.access_token, tokens.refresh_token);
    });
  });
  main().replaceChildren(form);
  password.focus();
}

function codeInput() {
  return h("input", { inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: 6,
                      required: true, placeholder: "000000" });
}

// Second step of the login of a user enrolled in MFA: the code its authenticator app shows now.
function mfaCodeScreen(email, session) {
  const code = codeInput();
  const form = h("form", { class: "cartao login" },
    h("h1", { text: "Verificação em duas etapas" }),
    h("p", { text: "Abra o aplicativo autenticador e digite o código de 6 dígitos do Portal Brasoftware Cloud." }),
    field("Código de verificação", code),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Verificar" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const tokens = await api("POST", "/auth/mfa", { email, session, code: code.value.trim() });
      await signedIn(tokens.access_token, tokens.refresh_token);
    });
  });
  main().replaceChildren(form);
  code.focus();
}

const mfaPending = () => state.me && state.me.mfa.required && !state.me.mfa.enrolled_at;

// Enrolment: the secret (as text, and as an otpauth:// link the phone's app opens), then its first code.
// Masters and operators are brought here until they enrol; other profiles come from "Minha conta".
async function mfaEnrolment() {
  // One secret per visit: two renders at once (a hash change and a render) must not ask for two, since
  // each request replaces the secret the identity provider will check.
  state.mfaSetup = state.mfaSetup || api("POST", "/auth/mfa/setup");
  let setup;
  try { setup = await state.mfaSetup; } catch (error) { state.mfaSetup = null; throw error; }
  const code = codeInput();
  const form = h("form", { class: "cartao", "aria-labelledby": "titulo-mfa" },
    h("h1", { id: "titulo-mfa", text: "Ative a verificação em duas etapas" }),
    mfaPending() ? h("p", { text: "Seu perfil exige a verificação em duas etapas: cadastre um aplicativo autenticador para continuar." }) : null,
    h("ol", {},
      h("li", { text: "Instale um aplicativo autenticador no celular (Microsoft Authenticator, Google Authenticator ou outro)." }),
      h("li", {}, "No aplicativo, adicione uma conta com a chave abaixo (ou ",
        h("a", { href: setup.otpauth_uri, text: "abra este link no celular" }), "):"),
      h("li", { text: "Digite o código de 6 dígitos que o aplicativo mostra." })),
    h("p", {}, "Chave: ", h("code", { id: "segredo-mfa", class: "segredo", text: setup.secret })),
    field("Código do aplicativo", code),
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Ativar" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      await api("POST", "/auth/mfa/verify", { code: code.value.trim() });
      state.mfaSetup = null;
      state.me = await api("GET", "/me");
      notify("Verificação em duas etapas ativada.");
      location.hash = can("view_licences") && !can("back_office") ? "#/painel" : "#/contrato";
      render();
    });
  });
  return form;
}

async function accountScreen() {
  const { user, mfa } = state.me;
  const status = mfa.enrolled_at
    ? h("p", { id: "situacao-mfa", text: `Verificação em duas etapas ativa desde ${dateBR(mfa.enrolled_at)}.` })
    : h("p", { id: "situacao-mfa", text: "Verificação em duas etapas desativada." });
  const section = h("section", { class: "cartao" }, h("h2", { text: "Verificação em duas etapas" }), status,
    mfa.enrolled_at ? h("p", { class: "dica", text: "Trocou de celular? Peça ao atendimento para redefinir a verificação." })
      : h("div", { class: "acoes" }, h("button", { type: "button", onclick: async () => {
          const turn = (render.turn = (render.turn || 0) + 1);  // a render still under way does not replace it
          try { const form = await mfaEnrolment(); if (turn === render.turn) main().replaceChildren(form); }
          catch (error) { notify(error.message); } },
        text: "Ativar verificação em duas etapas" })));
  return [h("h1", { text: "Minha conta" }),
    h("section", { class: "cartao" }, h("p", { text: `${user.name} · ${user.email}` })), section];
}

async function signedIn(token, refresh) {
  state.token = token;
  sessionStorage.setItem("token", token);
  if (refresh) { state.refresh = refresh; sessionStorage.setItem("refresh", refresh); }
  state.me = await api("GET", "/me");
  location.hash = can("view_licences") && !can("back_office") ? "#/painel" : "#/contrato";
  render();
}

// --- screens ------------------------------------------------------------------------------------

const SCREENS = [
  { path: "painel", label: "Licenças", capability: "view_licences", render: licencePanel },
  { path: "produtos", label: "Adicionar novos produtos", capability: "buy_products", render: catalogScreen },
  { path: "faturas", label: "Faturas", capability: "billing", render: invoicesScreen },
  { path: "chamados", label: "Suporte", capability: "support_tickets", render: ticketsScreen },
  { path: "usuarios", label: "Usuários", capability: "manage_users", render: usersScreen },
  { path: "contrato", label: "Contrato", capability: "use_portal", render: contractScreen },
  { path: "conta", label: "Minha conta", capability: "use_portal", render: accountScreen },
  { path: "privacidade", label: "Privacidade", capability: "use_portal", render: privacyScreen },
];

async function licencePanel() {
  const { items } = await api("GET", "/subscriptions");
  const actions = h("div", { class: "acoes" },
    can("buy_products") ? h("a", { class: "botao", href: "#/produtos", text: "Adicionar novos produtos" }) : null,
    can("cancel_services") && items.some((s) => s.quantity > 0)
      ? h("button", { type: "button", class: "perigo", onclick: terminateDialog, text: "Rescindir contrato" }) : null);
  const families = [...new Set(items.map((s) => s.family))].sort();
  const sections = families.map((family) => h("section", { class: "cartao", "aria-label": family },
    h("h2", { text: family }),
    table([["Produto"], ["Quantidade", "num"], ["Preço unitário", "num"], ["Situação"], ["Renovação"], [""]],
      items.filter((s) => s.family === family).map((s) => [
        productCell(s), String(s.quantity), s.unit_price_cents == null ? "—" : brl(s.unit_price_cents),
        statusCell(s), renewalCell(s),
        can("change_quantities") && s.status === "active"
          ? h("button", { type: "button", class: "secundario", onclick: () => quantityDialog(s),
                          "aria-label": `Alterar quantidades de ${s.name}`, text: "Alterar quantidades" }) : "",
      ]))));
  // Purchases and changes in flight settle within seconds to minutes: look again while any is.
  if (items.some((s) => s.status === "pending" || (s.pending_change && s.pending_change.applies === "now"))) {
    clearTimeout(licencePanel.refresh);
    licencePanel.refresh = setTimeout(() => {
      if (location.hash.startsWith("#/painel") && !document.querySelector("dialog[open]")) render();
    }, 5000);
  }
  return [h("h1", { text: "Painel de licenças" }), actions, items.length ? sections : await emptyPanel()];
}

async function emptyPanel() {
  const contract = await api("GET", "/contract").catch(() => null);
  if (contract && contract.status === "awaiting_acceptance" && contract.items.length) {
    return h("p", { class: "cartao" }, "Nenhuma assinatura ainda. As licenças contratadas são provisionadas assim que o Master aceita o ",
             h("a", { href: "#/contrato", text: "contrato" }), ".");
  }
  return h("p", { class: "cartao", text: "Nenhuma assinatura ainda." });
}

// The name and the term with its billing plan ("Anual · pagamento antecipado"), as the API labels it.
function productCell(s) {
  return h("div", {}, h("div", { text: s.name }), h("div", { class: "dica plano", text: s.plan_label }));
}

function statusCell(s) {
  const labels = { pending: "Em provisionamento", active: "Ativa", cancelled: "Cancelada", failed: "Falhou",
                   suspended: "Suspensa" };
  const tone = s.status === "active" ? "ok" : s.status === "failed" || s.status === "suspended" ? "erro" : "pendente";
  const parts = [h("span", { class: `etiqueta ${tone}`, text: labels[s.status] || s.status })];
  if (s.status === "suspended") {
    // Suspended at Microsoft for an overdue invoice: still billed, reactivated when the invoice is paid.
    parts.push(h("div", { class: "dica suspensa",
                          text: "Suspensa por falta de pagamento: reativada assim que a fatura vencida for paga." }));
  }
  if (s.pending_change) {
    const when = s.pending_change.applies === "now" ? "em processamento" : `na renovação (${dateBR(s.renews_on)})`;
    const what = s.status === "pending" ? `Compra de ${s.pending_change.quantity} licenças` : `Alteração para ${s.pending_change.quantity}`;
    parts.push(h("div", { class: "dica pendente-alteracao", text: `${what}: ${when}` }));
  }
  return h("div", {}, parts);
}

function renewalCell(s) {
  return h("div", {}, h("div", { text: s.renews_on ? dateBR(s.renews_on) : "—" }),
    s.cancellation_allowed_until ? h("div", { class: "dica", text: `Redução imediata até ${dateBR(s.cancellation_allowed_until)}` }) : null,
    h("div", { class: "dica", text: s.auto_renew ? "Renovação automática" : "Sem renovação automática" }));
}

const REASONS = [["rescisao_contrato", "Rescisão de contrato"], ["reducao_de_custos", "Redução de custos"],
                 ["migracao", "Migração"], ["insatisfacao", "Insatisfação"], ["outro", "Outro"]];

function quantityDialog(sub) {
  dialog(`Alterar quantidades — ${sub.name}`, (close) => {
    const bounds = state.me.limits.quantity;
    const quantity = h("input", { type: "number", min: bounds.minimum, max: bounds.maximum, step: 1, value: sub.quantity, required: true });
    const reason = h("select", {}, h("option", { value: "", text: "Selecione…" }),
                     REASONS.map(([value, text]) => h("option", { value, text })));
    const reasonText = h("textarea", { rows: 2, maxlength: 1000 });
    const reasonBox = h("div", { hidden: true }, field("Motivo da redução a zero", reason), field("Detalhes (opcional)", reasonText));
    const preview = h("div", { class: "dica", "aria-live": "polite" });
    const refresh = async () => {
      reasonBox.hidden = Number(quantity.value) !== 0;
      if (quantity.value === "" || Number(quantity.value) === sub.quantity) { preview.textContent = ""; return; }
      try {
        const p = await api("GET", `/subscriptions/${sub.id}/quantity-preview?quantity=${Number(quantity.value)}`);
        preview.textContent = p.applies === "now"
          ? `Efeito nesta fatura: ${brl(p.amount_cents)} (pró-rata a partir de ${dateBR(p.effective_on)}${
              sub.billing_frequency === "monthly" ? "" : " até o fim do prazo pago antecipadamente"}).`
          : `Fora do prazo de ${p.cancellation_window_days} dias: a redução será feita na renovação, em ${dateBR(p.effective_on)}.`;
      } catch (error) { preview.textContent = error.message; }
    };
    quantity.addEventListener("input", refresh);
    const form = h("form", {}, field("Nova quantidade", quantity), reasonBox, preview,
      h("div", { class: "acoes" }, h("button", { type: "submit", text: "Confirmar" }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        const body = { quantity: Number(quantity.value) };
        if (body.quantity === 0) { body.reason = reason.value || null; body.reason_text = reasonText.value || null; }
        await api("POST", `/subscriptions/${sub.id}/quantity`, body, { "If-Match": String(sub.version) });
        close(); notify("Alteração registrada. O painel reflete a mudança em até 30 minutos."); render();
      });
    });
    return form;
  });
}

function terminateDialog() {
  dialog("Rescindir contrato", (close) => {
    const text = h("textarea", { rows: 3, maxlength: 1000 });
    const form = h("form", {},
      h("p", { text: `Todas as licenças serão reduzidas a zero com o motivo “rescisão de contrato”. Reduções fora do prazo de ${state.me.limits.cancellation_window_days} dias acontecem na renovação.` }),
      field("Motivo (opcional)", text),
      h("div", { class: "acoes" }, h("button", { type: "submit", class: "perigo", text: "Rescindir" }),
        h("button", { type: "button", class: "secundario", onclick: close, text: "Voltar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        await api("POST", "/contract/terminate", { reason_text: text.value || null });
        close(); notify("Rescisão registrada."); render();
      });
    });
    return form;
  });
}

async function catalogScreen() {
  const [{ items: families }, cart] = await Promise.all([api("GET", "/catalog/families"), api("GET", "/cart")]);
  const family = h("select", { id: "filtro-familia" }, h("option", { value: "", text: "Todas as famílias" }),
                   families.map((f) => h("option", { value: f.id, text: f.name })));
  const search = h("input", { type: "search", id: "busca", placeholder: "Ex.: E3, Teams, Power BI" });
  const results = h("div", { class: "grade", "aria-live": "polite" });
  const load = async () => {
    const params = new URLSearchParams();
    if (family.value) params.set("family", family.value);
    if (search.value) params.set("q", search.value);
    const { items } = await api("GET", `/catalog/products?${params}`);
    results.replaceChildren(...items.map(productCard));
  };
  family.addEventListener("change", load);
  search.addEventListener("input", load);
  await load();
  return [h("h1", { text: "Adicionar novos produtos" }),
          h("div", { class: "cartao" }, h("div", { class: "grade" }, field("Família de produtos", family), field("Buscar", search))),
          results, cartSection(cart)];
}

function productCard(product) {
  const bounds = state.me.limits.purchase_quantity;
  const quantity = h("input", { type: "number", min: bounds.minimum, max: bounds.maximum, value: 1, "aria-label": `Quantidade de ${product.name}` });
  return h("article", { class: "cartao produto" },
    h("h2", { text: product.name }), h("p", { class: "dica plano", text: `${product.family} · ${product.plan_label}` }),
    h("p", { text: `${brl(product.unit_price_cents)} por licença/mês` }),
    h("div", { class: "acoes" }, quantity,
      h("button", { type: "button", onclick: async () => {
        try { await api("PUT", `/cart/items/${encodeURIComponent(product.sku)}`, { quantity: Number(quantity.value) });
              notify(`${product.name} no carrinho.`); render(); } catch (error) { notify(error.message); }
      }, text: "Adicionar ao carrinho" })));
}

// The invoice's lines: they add up to the total, as on its PDF and email (credit notes used are
// negative lines; a credit left for the next invoices is a line moving it to a credit note).
function invoiceRows(invoice) {
  return invoice.lines.map((l) => [l.description, l.amount_cents]);
}

function cartSection(cart) {
  if (!cart.items.length) return h("section", { class: "cartao", "aria-label": "Carrinho" }, h("h2", { text: "Carrinho" }), h("p", { text: "Seu carrinho está vazio." }));
  const checkout = async (event) => {
    event.target.disabled = true;
    try {
      await api("POST", "/cart/checkout", undefined, { "Idempotency-Key": `checkout-${Date.now()}` });
      notify("Pedido recebido. As licenças aparecem no painel assim que provisionadas.");
      location.hash = "#/painel";
    } catch (error) { notify(error.message); event.target.disabled = false; }
  };
  return h("section", { class: "cartao", "aria-label": "Carrinho" }, h("h2", { text: "Carrinho" }),
    table([["Produto"], ["Quantidade", "num"], ["Mensal", "num"], [""]], cart.items.map((item) => [
      item.name, String(item.quantity), brl(item.monthly_total_cents),
      h("button", { type: "button", class: "link", "aria-label": `Remover ${item.name}`, onclick: async () => {
        await api("DELETE", `/cart/items/${encodeURIComponent(item.sku)}`); render(); }, text: "Remover" })])),
    h("p", { text: `Total mensal: ${brl(cart.monthly_total_cents)} (o primeiro mês é cobrado pró-rata)` }),
    h("div", { class: "acoes" }, h("button", { type: "button", onclick: checkout, text: "Finalizar pedido" })));
}

const INVOICE_STATUS = { open: "Em aberto", overdue: "Vencida", paid: "Paga", cancelled: "Cancelada" };

async function invoicesScreen(id) {
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
                  notify("Segunda via emitida e enviada por e-mail."); render(); } catch (error) { notify(error.message); } },
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

const CATEGORIES = [["licencas", "Licenças"], ["faturamento", "Faturamento"], ["acesso", "Acesso"], ["tecnico", "Técnico"], ["outro", "Outro"]];
const SEVERITIES = [["baixa", "Baixa"], ["media", "Média"], ["alta", "Alta"], ["critica", "Crítica"]];

async function ticketsScreen(id) {
  if (id) return ticketDetail(id);
  const { items } = await api("GET", "/tickets");
  const subject = h("input", { required: true, maxlength: 150 });
  const category = h("select", {}, CATEGORIES.map(([value, text]) => h("option", { value, text })));
  const severity = h("select", {}, SEVERITIES.map(([value, text]) => h("option", { value, text })));
  const description = h("textarea", { rows: 4, required: true });
  const form = h("form", { class: "cartao", "aria-labelledby": "novo-chamado" }, h("h2", { id: "novo-chamado", text: "Abrir chamado" }),
    field("Assunto", subject), h("div", { class: "grade" }, field("Categoria", category), field("Severidade", severity)),
    field("Descrição", description), h("div", { class: "acoes" }, h("button", { type: "submit", text: "Abrir chamado" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const ticket = await api("POST", "/tickets", { subject: subject.value, category: category.value,
                                                     severity: severity.value, description: description.value });
      notify(`Chamado #${ticket.number} aberto.`); location.hash = `#/chamados/${ticket.id}`;
    });
  });
  return [h("h1", { text: "Suporte" }), form, items.length
    ? table([["Nº"], ["Assunto"], ["Situação"], ["Atualizado"], [""]], items.map((t) => [
        `#${t.number}`, t.subject, t.status_label, dateBR(t.updated_at), h("a", { href: `#/chamados/${t.id}`, text: "Abrir" })]))
    : h("p", { class: "dica", text: "Nenhum chamado aberto." })];
}

async function ticketDetail(id) {
  const ticket = await api("GET", `/tickets/${id}`);
  const body = h("textarea", { rows: 3, required: true });
  const form = h("form", { class: "cartao" }, field("Responder", body), h("div", { class: "acoes" }, h("button", { type: "submit", text: "Enviar" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => { await api("POST", `/tickets/${id}/messages`, { body: body.value }); render(); });
  });
  return [h("p", {}, h("a", { href: "#/chamados", text: "← Chamados" })),
    h("h1", { text: `Chamado #${ticket.number}: ${ticket.subject}` }),
    h("p", { text: `Situação: ${ticket.status_label}` }),
    ticket.messages.map((m) => h("div", { class: `mensagem ${m.author_side}` },
      h("p", { class: "dica", text: `${m.author_side === "operator" ? "Suporte" : m.author_name} · ${dateBR(m.at)}` }), h("p", { text: m.body }))),
    ticket.status === "closed" ? h("p", { class: "dica", text: "Chamado fechado." }) : form];
}

const ROLE_LABELS = { master: "Master", adm: "Adm", cobranca: "Cobrança", suporte: "Suporte" };

async function usersScreen() {
  const { items } = await api("GET", "/users");
  const email = h("input", { type: "email", required: true });
  const name = h("input", { required: true, maxlength: 120 });
  const roles = h("fieldset", { class: "opcoes" }, h("legend", { text: "Perfis" }),
    Object.entries(ROLE_LABELS).map(([value, text]) => h("label", {}, h("input", { type: "checkbox", value }), text)));
  const form = h("form", { class: "cartao" }, h("h2", { text: "Convidar usuário" }), field("E-mail", email), field("Nome", name), roles,
    h("div", { class: "acoes" }, h("button", { type: "submit", text: "Convidar" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form, async () => {
      const chosen = [...roles.querySelectorAll("input:checked")].map((i) => i.value);
      await api("POST", "/users", { email: email.value, name: name.value, roles: chosen });
      notify("Convite enviado por e-mail."); render();
    });
  });
  return [h("h1", { text: "Usuários e perfis" }), form,
    table([["Nome"], ["E-mail"], ["Perfis"], ["Situação"], [""]], items.map((u) => [
      u.name, u.email, u.roles.map((r) => ROLE_LABELS[r] || r).join(", "), u.status === "active" ? "Ativo" : "Convidado",
      u.id === state.me.user.id ? "" : h("div", { class: "acoes" },
        h("button", { type: "button", class: "secundario", onclick: () => rolesDialog(u), text: "Perfis" }),
        h("button", { type: "button", class: "link", onclick: async () => {
          if (!confirm(`Remover ${u.name}?`)) return;
          try { await api("DELETE", `/users/${u.id}`); notify("Usuário removido."); render(); } catch (error) { notify(error.message); } },
          text: "Remover" }))]))];
}

function rolesDialog(user) {
  dialog(`Perfis de ${user.name}`, (close) => {
    const roles = h("fieldset", { class: "opcoes" }, h("legend", { text: "Perfis" }),
      Object.entries(ROLE_LABELS).map(([value, text]) => h("label", {}, h("input", { type: "checkbox", value, checked: user.roles.includes(value) }), text)));
    const form = h("form", {}, roles, h("div", { class: "acoes" }, h("button", { type: "submit", text: "Salvar" }),
      h("button", { type: "button", class: "secundario", onclick: close, text: "Cancelar" })));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      guarded(form, async () => {
        await api("PATCH", `/users/${user.id}`, { roles: [...roles.querySelectorAll("input:checked")].map((i) => i.value) },
                  { "If-Match": String(user.version) });
        close(); render();
      });
    });
    return form;
  });
}

async function contractScreen() {
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
          if (contract.items.length && can("view_licences")) location.hash = "#/painel"; else render();
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
      notify("Contatos de cobrança salvos."); render();
    });
  });
  section.append(form);
  return section;
}

// --- privacy (LGPD): open to everyone; the export for who may make it ---------------------------

async function privacyScreen() {
  const notice = await api("GET", "/privacy");
  const item = (title, text) => h("li", {}, h("strong", { text: `${title}: ` }), text);
  const sections = [h("h1", { id: "titulo-privacidade", text: "Privacidade e proteção de dados" }),
    h("section", { class: "cartao", "aria-labelledby": "privacidade-controlador" },
      h("h2", { id: "privacidade-controlador", text: "Quem trata os seus dados" }),
      h("p", { text: `Controlador: ${notice.controller_name} (CNPJ ${notice.controller_cnpj}), ${notice.controller_address}.` }),
      h("p", {}, `Encarregado pelo tratamento de dados pessoais (DPO): ${notice.dpo_name} · `,
        h("a", { href: `mailto:${notice.dpo_email}`, id: "email-encarregado", text: notice.dpo_email }), ` · ${notice.dpo_phone}`)),
    h("section", { class: "cartao" }, h("h2", { text: "O que coletamos e por quê" }),
      h("ul", {},
        item("Usuários do portal", "nome, e-mail e perfis, para dar acesso ao portal (execução do contrato, LGPD art. 7º, V)."),
        item("Empresa e contrato", "razão social, CNPJ, endereço, domínio Microsoft, e-mails de cobrança e o aceite do contrato (data, usuário e IP), para contratar, provisionar licenças e faturar (art. 7º, V)."),
        item("Faturas e notas fiscais", "os dados que a lei fiscal exige (art. 7º, II)."),
        item("Chamados de suporte", "as mensagens e quem as escreveu, para atender você (art. 7º, V)."),
        item("Trilha de auditoria", "quem fez o quê, quando e de qual IP, para a segurança da conta (legítimo interesse, art. 7º, IX)."),
        item("Formulário de interesse", "nome, e-mail e telefone de contato, para a proposta comercial (art. 7º, V)."))),
    h("section", { class: "cartao" }, h("h2", { text: "Com quem compartilhamos" }),
      h("p", { text: "Microsoft (licenças, como revenda CSP), Amazon Web Services (hospedagem), o banco emissor dos boletos e a prefeitura (NFS-e). Não vendemos dados." })),
    h("section", { class: "cartao" }, h("h2", { text: "Por quanto tempo" }),
      h("p", { text: `Enquanto o contrato estiver ativo. Depois do encerramento, os documentos fiscais são guardados por ${notice.fiscal_retention_years} anos; passado esse prazo, os dados pessoais dos usuários e dos chamados são anonimizados automaticamente, e as faturas guardam apenas o que a lei fiscal exige.` })),
    h("section", { class: "cartao" }, h("h2", { text: "Seus direitos (LGPD, art. 18)" }),
      h("p", { text: "Confirmação e acesso aos dados, correção, anonimização, bloqueio ou eliminação do que for desnecessário, portabilidade, informação sobre compartilhamento e revogação do consentimento." }),
      h("p", {}, "Para exercê-los, escreva ao encarregado em ", h("a", { href: `mailto:${notice.dpo_email}`, text: notice.dpo_email }),
        ". O Master da organização gerencia os usuários em Usuários e pode exportar todos os dados da organização aqui mesmo."))];
  if (state.me && can("export_data")) sections.push(exportSection(notice));
  if (!state.me) sections.push(h("p", {}, h("a", { href: "#/entrar", text: "Voltar para o login" })));
  return sections;
}

function exportSection(notice) {
  const result = h("div", { id: "resultado-exportacao", "aria-live": "polite" });
  const button = h("button", { type: "button", id: "exportar-dados", text: "Exportar dados da organização" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    result.replaceChildren(h("p", { class: "dica", text: "Preparando o arquivo…" }));
    try {
      const made = await api("POST", "/privacy/exports");
      result.replaceChildren(h("p", {}, h("a", { class: "botao", href: made.url, id: "baixar-exportacao", text: "Baixar o arquivo (.zip)" }),
        h("span", { class: "dica", text: ` Link válido até ${dateBR(made.expires_at)} (${made.rows} registros).` })));
    } catch (error) { result.replaceChildren(errorBox(error)); } finally { button.disabled = false; }
  });
  return h("section", { class: "cartao", "aria-labelledby": "titulo-exportacao" },
    h("h2", { id: "titulo-exportacao", text: "Exportar os dados da organização" }),
    h("p", { text: `Um arquivo .zip com usuários, contrato, assinaturas e alterações, faturas, pagamentos, notas de crédito, chamados e a trilha de auditoria, em JSON e CSV. O link vale ${notice.export_link_minutes} minutos; a exportação fica registrada na auditoria.` }),
    h("div", { class: "acoes" }, button), result);
}

// --- the router ---------------------------------------------------------------------------------

// The collection banner (Master, Cobrança): the sentence the API writes for the organisation's
// state (overdue, purchases blocked, suspension warning, suspended) and a link to the invoice.
async function billingBanner() {
  if (!can("billing") || state.me.user.roles.includes("operator")) return null;
  let status;
  try { status = await api("GET", "/billing-status"); } catch (error) { return null; }
  if (status.state === "none" || !status.message) return null;
  return h("div", { class: `faixa-cobranca ${status.state}`, role: "alert", "data-state": status.state },
    h("span", { text: status.message }),
    status.invoice && h("a", { href: `#/faturas/${status.invoice.id}`, text: `Ver a fatura nº ${status.invoice.number}` }));
}

function renderMenu() {
  const menu = document.getElementById("menu");
  const session = document.getElementById("sessao");
  if (!state.me) { menu.hidden = true; session.hidden = true; return; }
  const current = location.hash.split("/")[1];
  // Until a user who must use MFA enrols, nothing but the enrolment is open to it.
  menu.replaceChildren(...SCREENS.filter((s) => can(s.capability) && !mfaPending()).map((s) =>
    h("a", { href: `#/${s.path}`, "aria-current": s.path === current ? "page" : false, text: s.label })));
  menu.hidden = false;
  session.hidden = false;
  document.getElementById("usuario").textContent = `${state.me.user.name} · ${state.me.organization.name}`;
}

async function render() {
  const [, path, id] = location.hash.split("/");
  // Only the latest render shows: a slower one started before (a screen still loading when the user
  // moved on, or signed out) must not replace what the user went to.
  const turn = (render.turn = (render.turn || 0) + 1);
  if (!state.token && path === "privacidade") {
    renderMenu();
    try { main().replaceChildren(...await privacyScreen()); } catch (error) { main().replaceChildren(errorBox(error)); }
    document.title = "Privacidade — Portal Brasoftware Cloud";
    return;
  }
  if (!state.token) { renderMenu(); main().replaceChildren(loginScreen()); return; }
  try {
    if (!state.me) state.me = await api("GET", "/me");
    if (mfaPending()) {
      const form = await mfaEnrolment();
      if (turn !== render.turn) return;
      renderMenu();
      main().replaceChildren(form);
      document.title = "Verificação em duas etapas — Portal Brasoftware Cloud";
      return;
    }
    const screen = SCREENS.find((s) => s.path === path && can(s.capability)) || SCREENS.find((s) => can(s.capability));
    renderMenu();
    const [banner, content] = await Promise.all([billingBanner(), screen.render(id)]);
    if (turn !== render.turn) return;
    main().replaceChildren(...[banner, content].flat(Infinity).filter((node) => node != null && node !== false));
    document.title = `${screen.label} — Portal Brasoftware Cloud`;
  } catch (error) {
    if (turn !== render.turn) return;
    // The API stops an un-enrolled Master or operator at enrolment: read who we are again, and go there.
    if (error.code === "mfa_enrolment_required" && !render.again) {
      render.again = true; state.me = null;
      try { await render(); } finally { render.again = false; }
      return;
    }
    if (error.status !== 401) main().replaceChildren(errorBox(error));
  }
}

document.getElementById("sair").addEventListener("click", logout);
document.getElementById("trocar-senha").addEventListener("click", passwordDialog);
window.addEventListener("hashchange", render);
render();
