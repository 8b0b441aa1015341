// Portal Brasoftware Cloud — the browser client of the csp-portal API, as ES modules with no build
// step: this entry holds the router; core.js the shared core; one module per screen (bo-*.js for
// the reseller's back office).
import { api, can, errorBox, h, home, main, state, view } from "./core.js";
import { loginScreen, logout, mfaEnrolment, mfaPending, passwordDialog, restoreDraft } from "./session.js";
import { accountScreen } from "./account.js";
import { licencePanel } from "./licences.js";
import { cartCounter, catalogScreen } from "./catalog.js";
import { invoicesScreen } from "./invoices.js";
import { ticketsScreen } from "./tickets.js";
import { usersScreen } from "./users.js";
import { contractBanner, contractScreen } from "./contract.js";
import { privacyScreen } from "./privacy.js";
import { leadsScreen } from "./bo-leads.js";
import { actingBanner, customersScreen } from "./bo-customers.js";
import { billingRunsScreen } from "./bo-billing-runs.js";
import { receivablesScreen } from "./bo-receivables.js";
import { queueScreen } from "./bo-tickets.js";
import { catalogAdminScreen } from "./bo-catalog.js";
import { backofficeReportsScreen, reportsScreen } from "./reports.js";  // spend report (#21 §1)
import { EXPORT_CAPABILITIES, exportsScreen } from "./exports.js";  // issue #21 §2
import { approvalsScreen } from "./approvals.js";  // purchase approvals (#21 §4)
import { webhooksScreen } from "./webhooks.js";  // #21 webhooks

// side: "customer" screens work inside an organisation (a customer's own, or the one an operator
// views as); "backoffice" screens are the reseller's; "both" are open to every signed-in user.
// #21: Aprovações (an Adm sees its own requests there; the Master decides), Relatórios (spend),
// Exportações (any of the capabilities of the three files opens it), Integrações (webhooks).
const SCREENS = [
  { path: "painel", label: "Licenças", capability: "view_licences", side: "customer", render: licencePanel },
  { path: "produtos", label: "Adicionar novos produtos", capability: "buy_products", side: "customer", render: catalogScreen },
  { path: "aprovacoes", label: "Aprovações", capability: "buy_products", side: "customer", render: approvalsScreen },
  { path: "faturas", label: "Faturas", capability: "billing", side: "customer", render: invoicesScreen },
  { path: "relatorios", label: "Relatórios", capability: "view_reports", side: "customer", render: reportsScreen },
  { path: "exportacoes", label: "Exportações", capability: EXPORT_CAPABILITIES, side: "customer", render: exportsScreen },
  { path: "chamados", label: "Suporte", capability: "support_tickets", side: "customer", render: ticketsScreen },
  { path: "usuarios", label: "Usuários", capability: "manage_users", side: "customer", render: usersScreen },
  { path: "contrato", label: "Contrato", capability: "use_portal", side: "customer", render: contractScreen },
  { path: "integracoes", label: "Integrações", capability: "manage_webhooks", side: "customer", render: webhooksScreen },
  { path: "atendimento", label: "Chamados", capability: "back_office", side: "backoffice", render: queueScreen },
  { path: "clientes", label: "Clientes", capability: "back_office", side: "backoffice", render: customersScreen },
  { path: "interessados", label: "Interessados", capability: "back_office", side: "backoffice", render: leadsScreen },
  { path: "recebiveis", label: "Recebíveis", capability: "back_office", side: "backoffice", render: receivablesScreen },
  { path: "faturamento", label: "Faturamento mensal", capability: "back_office", side: "backoffice", render: billingRunsScreen },
  { path: "catalogo", label: "Catálogo e preços", capability: "back_office", side: "backoffice", render: catalogAdminScreen },
  { path: "bo-relatorios", label: "Relatórios", capability: "back_office", side: "backoffice", render: backofficeReportsScreen },
  { path: "conta", label: "Minha conta", capability: "use_portal", side: "both", render: accountScreen },
  { path: "privacidade", label: "Privacidade", capability: "use_portal", side: "both", render: privacyScreen },
];

// The operator's own menu is the back office; viewing as a customer, it is that customer's menu.
function onSide(screen) {
  if (screen.side === "both") return true;
  const backOffice = can("back_office") && !state.actingFor;
  return screen.side === (backOffice ? "backoffice" : "customer");
}
const openScreens = () => SCREENS.filter((s) => [].concat(s.capability).some(can) && onSide(s) && !mfaPending());


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
  const toggle = document.getElementById("abrir-menu");
  if (!state.me) {
    menu.hidden = true; session.hidden = true; toggle.hidden = true; menu.replaceChildren();
    document.getElementById("usuario").textContent = "";
    return;
  }
  const current = location.hash.split("/")[1];
  // Until a user who must use MFA enrols, nothing but the enrolment is open to it.
  menu.replaceChildren(...openScreens().map((s) =>
    h("a", { href: `#/${s.path}`, "aria-current": s.path === current ? "page" : false, text: s.label })),
    ...cartCounter());  // the number of products in the cart (catalog.js keeps it current)
  menu.hidden = false;
  session.hidden = false;
  toggle.hidden = false;
  document.getElementById("usuario").textContent = `${state.me.user.name} · ${state.me.organization.name}`;
}

// On a phone the navigation (and the user's name, Sair) hides behind "Menu"; a choice closes it.
function openMenu(open) {
  const toggle = document.getElementById("abrir-menu");
  toggle.setAttribute("aria-expanded", String(open));
  document.getElementById("navegacao").classList.toggle("aberto", open);
}

// The screen is on: busy no more; after a navigation (not a refresh of the same screen) the focus
// goes to its title, so a screen reader starts there and the keyboard continues from it.
let lastHash = null;
function shown(turn) {
  if (turn !== view.turn) return;
  main().removeAttribute("aria-busy");
  const moved = lastHash !== null && lastHash !== location.hash;
  lastHash = location.hash;
  const title = main().querySelector("h1");
  if (moved && title) { title.setAttribute("tabindex", "-1"); title.focus({ preventScroll: false }); }
}

async function render() {
  const [, path, id] = location.hash.split("/");
  // Only the latest render shows: a slower one started before (a screen still loading when the user
  // moved on, or signed out) must not replace what the user went to.
  const turn = (view.turn += 1);
  openMenu(false);
  main().setAttribute("aria-busy", "true");
  try {
    await screenFor(turn, path, id);
  } catch (error) {
    if (turn !== view.turn) return;
    if (error.code === "session_expired") return;  // the login screen is on, saying so
    main().replaceChildren(h("h1", { text: "Não foi possível abrir esta tela" }), errorBox(error, { retry: render }));
  } finally { shown(turn); }
}

async function screenFor(turn, path, id) {
  if (!state.token && path === "privacidade") {
    renderMenu();
    const content = await privacyScreen();
    if (turn !== view.turn) return;
    main().replaceChildren(...content);
    document.title = "Privacidade — Portal Brasoftware Cloud";
    return;
  }
  if (!state.token) { renderMenu(); main().replaceChildren(loginScreen()); document.title = "Entrar — Portal Brasoftware Cloud"; return; }
  try {
    if (!state.me) state.me = await api("GET", "/me");
    if (turn !== view.turn) return;
    if (mfaPending()) {
      const form = await mfaEnrolment();
      if (turn !== view.turn) return;
      renderMenu();
      main().replaceChildren(form);
      document.title = "Verificação em duas etapas — Portal Brasoftware Cloud";
      return;
    }
    const screens = openScreens();
    const screen = screens.find((s) => s.path === path) || screens.find((s) => `#/${s.path}` === home()) || screens[0];
    renderMenu();
    const [banner, contractNotice, content] = await Promise.all([billingBanner(), contractBanner(), screen.render(id)]);
    if (turn !== view.turn) return;
    main().replaceChildren(...[actingBanner(), banner, contractNotice, content].flat(Infinity).filter((node) => node != null && node !== false));
    document.title = `${screen.label} — Portal Brasoftware Cloud`;
    restoreDraft();
  } catch (error) {
    if (turn !== view.turn) return;
    // The API stops an un-enrolled Master or operator at enrolment: read who we are again, and go there.
    if (error.code === "mfa_enrolment_required" && !render.again) {
      render.again = true; state.me = null;
      try { await screenFor(turn, path, id); } finally { render.again = false; }
      return;
    }
    throw error;
  }
}

document.getElementById("sair").addEventListener("click", logout);
document.getElementById("trocar-senha").addEventListener("click", () => { openMenu(false); passwordDialog(); });
document.getElementById("abrir-menu").addEventListener("click", () =>
  openMenu(document.getElementById("abrir-menu").getAttribute("aria-expanded") !== "true"));
document.addEventListener("keydown", (event) => { if (event.key === "Escape") openMenu(false); });
window.addEventListener("hashchange", render);
window.addEventListener("portal:render", render);
render();
