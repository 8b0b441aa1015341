// Portal Brasoftware Cloud — the browser client of the csp-portal API, as ES modules with no build
// step: this entry holds the router; core.js the shared core; one module per screen (bo-*.js for
// the reseller's back office).
import { api, can, errorBox, h, home, main, state, view } from "./core.js";
import { loginScreen, logout, mfaEnrolment, mfaPending, passwordDialog } from "./session.js";
import { accountScreen } from "./account.js";
import { licencePanel } from "./licences.js";
import { catalogScreen } from "./catalog.js";
import { invoicesScreen } from "./invoices.js";
import { ticketsScreen } from "./tickets.js";
import { usersScreen } from "./users.js";
import { contractBanner, contractScreen } from "./contract.js";
import { privacyScreen } from "./privacy.js";
import { leadsScreen } from "./bo-leads.js";
import { customersScreen } from "./bo-customers.js";
import { billingRunsScreen } from "./bo-billing-runs.js";
import { receivablesScreen } from "./bo-receivables.js";
import { queueScreen } from "./bo-tickets.js";
import { catalogAdminScreen } from "./bo-catalog.js";

// side: "customer" screens work inside an organisation (a customer's own, or the one an operator
// views as); "backoffice" screens are the reseller's; "both" are open to every signed-in user.
const SCREENS = [
  { path: "painel", label: "Licenças", capability: "view_licences", side: "customer", render: licencePanel },
  { path: "produtos", label: "Adicionar novos produtos", capability: "buy_products", side: "customer", render: catalogScreen },
  { path: "faturas", label: "Faturas", capability: "billing", side: "customer", render: invoicesScreen },
  { path: "chamados", label: "Suporte", capability: "support_tickets", side: "customer", render: ticketsScreen },
  { path: "usuarios", label: "Usuários", capability: "manage_users", side: "customer", render: usersScreen },
  { path: "contrato", label: "Contrato", capability: "use_portal", side: "customer", render: contractScreen },
  { path: "atendimento", label: "Chamados", capability: "back_office", side: "backoffice", render: queueScreen },
  { path: "clientes", label: "Clientes", capability: "back_office", side: "backoffice", render: customersScreen },
  { path: "interessados", label: "Interessados", capability: "back_office", side: "backoffice", render: leadsScreen },
  { path: "recebiveis", label: "Recebíveis", capability: "back_office", side: "backoffice", render: receivablesScreen },
  { path: "faturamento", label: "Faturamento mensal", capability: "back_office", side: "backoffice", render: billingRunsScreen },
  { path: "catalogo", label: "Catálogo e preços", capability: "back_office", side: "backoffice", render: catalogAdminScreen },
  { path: "conta", label: "Minha conta", capability: "use_portal", side: "both", render: accountScreen },
  { path: "privacidade", label: "Privacidade", capability: "use_portal", side: "both", render: privacyScreen },
];

// The operator's own menu is the back office; viewing as a customer, it is that customer's menu.
function onSide(screen) {
  if (screen.side === "both") return true;
  const backOffice = can("back_office") && !state.actingFor;
  return screen.side === (backOffice ? "backoffice" : "customer");
}
const openScreens = () => SCREENS.filter((s) => can(s.capability) && onSide(s) && !mfaPending());


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
  menu.replaceChildren(...openScreens().map((s) =>
    h("a", { href: `#/${s.path}`, "aria-current": s.path === current ? "page" : false, text: s.label })));
  menu.hidden = false;
  session.hidden = false;
  document.getElementById("usuario").textContent = `${state.me.user.name} · ${state.me.organization.name}`;
}

async function render() {
  const [, path, id] = location.hash.split("/");
  // Only the latest render shows: a slower one started before (a screen still loading when the user
  // moved on, or signed out) must not replace what the user went to.
  const turn = (view.turn += 1);
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
    main().replaceChildren(...[banner, contractNotice, content].flat(Infinity).filter((node) => node != null && node !== false));
    document.title = `${screen.label} — Portal Brasoftware Cloud`;
  } catch (error) {
    if (turn !== view.turn) return;
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
window.addEventListener("portal:render", render);
render();
