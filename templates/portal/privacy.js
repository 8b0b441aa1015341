// Privacidade (LGPD): the notice, open before login; the organisation's export for who may make it.
import { api, can, dateBR, errorBox, h, state } from "./core.js";

// --- privacy (LGPD): open to everyone; the export for who may make it ---------------------------

export async function privacyScreen() {
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
    button.disabled = true; button.setAttribute("aria-busy", "true");
    result.replaceChildren(h("p", { class: "dica", text: "Preparando o arquivo…" }));
    try {
      const made = await api("POST", "/privacy/exports");
      result.replaceChildren(h("p", {}, h("a", { class: "botao", href: made.url, id: "baixar-exportacao", text: "Baixar o arquivo (.zip)" }),
        h("span", { class: "dica", text: ` Link válido até ${dateBR(made.expires_at)} (${made.rows} registros).` })));
    } catch (error) { result.replaceChildren(errorBox(error, { retry: () => button.click() })); } finally { button.disabled = false; button.removeAttribute("aria-busy"); }
  });
  return h("section", { class: "cartao", "aria-labelledby": "titulo-exportacao" },
    h("h2", { id: "titulo-exportacao", text: "Exportar os dados da organização" }),
    h("p", { text: `Um arquivo .zip com usuários, contrato, assinaturas e alterações, faturas, pagamentos, notas de crédito, chamados e a trilha de auditoria, em JSON e CSV. O link vale ${notice.export_link_minutes} minutos; a exportação fica registrada na auditoria.` }),
    h("div", { class: "acoes" }, button), result);
}
