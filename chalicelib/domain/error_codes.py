"""The catalogue: every error code the API answers, declared once with its kind (hence its HTTP
status) and its pt-BR message.

Raise sites call the code with its details: `raise codes.INVALID_EMAIL(field="email")`. A message's
`{placeholders}` are filled from those details, which also reach the client in the error JSON.
"""
from __future__ import annotations

from .errors import (
    AlreadyInvoiced,
    AuditOverwriteRefused,
    Conflict,
    Forbidden,
    InvalidBoleto,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    NumberTaken,
    PayloadTooLarge,
    RuleViolation,
    ServiceUnavailable,
    StaleVersion,
    TooManyRequests,
    UnsupportedMediaType,
    declare,
)

# --- requests: body, headers, paging, idempotency -----------------------------------------------

PAYLOAD_TOO_LARGE = declare("payload_too_large", PayloadTooLarge, "Corpo da requisição grande demais.")
UNSUPPORTED_MEDIA_TYPE = declare("unsupported_media_type", UnsupportedMediaType,
                                 "Envie o corpo como application/json.")
INVALID_JSON = declare("invalid_json", InvalidInput, "Corpo da requisição não é um JSON válido.")
INVALID_LIMIT = declare("invalid_limit", InvalidInput, "'limit' deve estar entre 1 e {maximum}.")
INVALID_MONTHS = declare("invalid_months", InvalidInput, "O número de meses deve estar entre 1 e {maximum}.")
INVALID_NEXT_TOKEN = declare("invalid_next_token", InvalidInput, "Token de paginação inválido.")
INVALID_IF_MATCH = declare("invalid_if_match", InvalidInput, "Cabeçalho If-Match deve ser a versão do objeto.")
INVALID_IDEMPOTENCY_KEY = declare("invalid_idempotency_key", InvalidInput,
                                  "Idempotency-Key deve ter de 1 a 128 caracteres.")
IDEMPOTENCY_KEY_REUSED = declare("idempotency_key_reused", RuleViolation,
                                 "Idempotency-Key já usada com outro corpo de requisição.")
IDEMPOTENCY_IN_PROGRESS = declare("idempotency_in_progress", Conflict,
                                  "Uma requisição com esta Idempotency-Key ainda está em andamento.")
# A route that takes a file (a bank's return file) as its body, sent as another media type.
UNSUPPORTED_FILE_TYPE = declare("unsupported_file_type", UnsupportedMediaType, "Envie o arquivo como {accepted}.")

# --- fields, as the schema validator names them (`field` is the field's path) --------------------

REQUIRED = declare("required", InvalidInput, "Campo '{field}' é obrigatório.")
UNKNOWN_FIELD = declare("unknown_field", InvalidInput, "Campo '{field}' não é aceito.")
UNKNOWN_PARAMETER = declare("unknown_parameter", InvalidInput, "Parâmetro '{field}' não é aceito nesta rota.")
INVALID_TYPE = declare("invalid_type", InvalidInput, "Campo '{field}' deve ser do tipo {expected}.")
INVALID_VALUE = declare("invalid_value", InvalidInput, "Valor inválido para '{field}'.")
INVALID_CHARACTERS = declare("invalid_characters", InvalidInput, "Campo '{field}' contém caracteres inválidos.")
INVALID_FORMAT = declare("invalid_format", InvalidInput, "Campo '{field}' está em formato inválido.")
TOO_SHORT = declare("too_short", InvalidInput, "Campo '{field}' é curto demais.")
TOO_LONG = declare("too_long", InvalidInput, "Campo '{field}' excede {max_length} caracteres.")
OUT_OF_RANGE = declare("out_of_range", InvalidInput, "Campo '{field}' está fora do intervalo permitido.")
TOO_FEW_ITEMS = declare("too_few_items", InvalidInput, "Campo '{field}' precisa de ao menos {min_items} item(ns).")
TOO_MANY_ITEMS = declare("too_many_items", InvalidInput, "Campo '{field}' aceita no máximo {max_items} itens.")
DUPLICATE_ITEMS = declare("duplicate_items", InvalidInput, "Campo '{field}' tem itens repetidos.")
INVALID_DATE = declare("invalid_date", InvalidInput, "Data inválida no campo '{field}'.")
INVALID_DATE_RANGE = declare("invalid_date_range", InvalidInput, "'from' deve ser anterior a 'to'.")
INVALID_STATUS = declare("invalid_status", InvalidInput, "Status inválido.")

# --- sign-in, tokens, permissions ----------------------------------------------------------------

MISSING_TOKEN = declare("missing_token", NotAuthenticated, "Autenticação necessária.")
INVALID_TOKEN = declare("invalid_token", NotAuthenticated, "Token inválido ou expirado.")
UNKNOWN_USER = declare("unknown_user", NotAuthenticated, "Usuário sem acesso ao portal.")
INVALID_CREDENTIALS = declare("invalid_credentials", NotAuthenticated, "E-mail ou senha incorretos.")
INVALID_SESSION = declare("invalid_session", NotAuthenticated, "Sessão de troca de senha inválida ou expirada.")
INVALID_REFRESH_TOKEN = declare("invalid_refresh_token", NotAuthenticated,
                                "Token de renovação inválido ou expirado.")
WEAK_PASSWORD = declare("weak_password", InvalidInput, "A senha não atende à política de senhas.")
FORBIDDEN = declare("forbidden", Forbidden, "Seu perfil não permite esta ação.")
TOO_MANY_REQUESTS = declare("too_many_requests", TooManyRequests,
                            "Muitas solicitações; aguarde um pouco e tente de novo.")
# Failed logins of an email or a source IP (domain/sign_in.py): the same answers whether the email
# has a user or not. `retry_after_seconds` also goes out as the Retry-After header.
LOGIN_DELAYED = declare("login_delayed", TooManyRequests,
                        "Muitas tentativas de entrada com senha incorreta. Aguarde {retry_after_seconds} "
                        "segundo(s) e tente de novo.")
LOGIN_LOCKED = declare("login_locked", TooManyRequests,
                       "Bloqueamos temporariamente o acesso depois de muitas tentativas com senha incorreta. "
                       "Tente de novo em {retry_after_minutes} minuto(s).")
SESSION_ENDED = declare("session_ended", NotAuthenticated, "Sua sessão foi encerrada; entre novamente.")
WRONG_CURRENT_PASSWORD = declare("wrong_current_password", InvalidInput, "A senha atual não confere.")
# Two-step sign-in (TOTP, domain/mfa.py).
MFA_ENROLMENT_REQUIRED = declare("mfa_enrolment_required", Forbidden,
                                 "Seu perfil exige verificação em duas etapas: cadastre um aplicativo autenticador "
                                 "para continuar.")
INVALID_MFA_SESSION = declare("invalid_mfa_session", NotAuthenticated,
                              "Sessão de verificação inválida ou expirada; entre de novo com e-mail e senha.")
MFA_CODE_MISMATCH = declare("mfa_code_mismatch", NotAuthenticated,
                            "Código de verificação incorreto ou expirado; confira o aplicativo autenticador.")
INVALID_MFA_CODE = declare("invalid_mfa_code", InvalidInput,
                           "Código incorreto: informe os 6 dígitos que o aplicativo autenticador mostra agora.")
# The pool let an enrolled user in without a code (its MFA was turned off outside the portal).
MFA_NOT_IN_FORCE = declare("mfa_not_in_force", NotAuthenticated,
                           "A verificação em duas etapas desta conta não está ativa; peça ao atendimento para "
                           "redefini-la.")
MFA_ALREADY_ENROLLED = declare("mfa_already_enrolled", Conflict,
                               "A verificação em duas etapas já está ativa; para trocar de aparelho, peça ao "
                               "atendimento para redefini-la.")
MFA_NOT_ENROLLED = declare("mfa_not_enrolled", Conflict,
                           "Este usuário não tem verificação em duas etapas ativa.")
MFA_RESET_OF_SELF = declare("mfa_reset_of_self", RuleViolation,
                            "Outro operador precisa redefinir a sua verificação em duas etapas.")

# --- concurrency ---------------------------------------------------------------------------------

VERSION_CONFLICT = declare("version_conflict", StaleVersion,
                           "Este registro foi alterado por outra pessoa; recarregue e tente de novo.")
CONCURRENT_UPDATE = declare("concurrent_update", Conflict, "Operação concorrente; tente de novo.")

# --- organisations and users ---------------------------------------------------------------------

ORGANIZATION_NOT_FOUND = declare("organization_not_found", NotFound, "Organização não encontrada.")
ORGANIZATION_EXISTS = declare("organization_exists", Conflict, "Organização já existe.")
INVALID_CNPJ = declare("invalid_cnpj", InvalidInput,
                       "CNPJ inválido: confira os 14 caracteres e os dígitos verificadores.")
CNPJ_IN_USE = declare("cnpj_in_use", Conflict, "Já existe um cliente com este CNPJ.")
USER_NOT_FOUND = declare("user_not_found", NotFound, "Usuário não encontrado.")
USER_EXISTS = declare("user_exists", Conflict, "Usuário já existe.")
EMAIL_IN_USE = declare("email_in_use", Conflict, "Já existe um usuário com este e-mail.")
INVALID_EMAIL = declare("invalid_email", InvalidInput, "E-mail inválido.")
INVALID_ROLES = declare("invalid_roles", InvalidInput, "Perfis inválidos: informe ao menos um dos perfis existentes.")
ROLE_NOT_ALLOWED = declare("role_not_allowed", RuleViolation, "Perfil não permitido para esta organização.")
LAST_MASTER = declare("last_master", RuleViolation, "A organização precisa manter ao menos um usuário Master.")
# Cognito refused the user's email or name (InvalidParameterException): nothing was created.
IDENTITY_REJECTED = declare("identity_rejected", InvalidInput,
                            "O serviço de login recusou o e-mail ou o nome informado; confira o e-mail (sem "
                            "vírgulas, espaços ou caracteres especiais) e o nome.")

# --- leads and onboarding ------------------------------------------------------------------------

LEAD_NOT_FOUND = declare("lead_not_found", NotFound, "Solicitação não encontrada.")
LEAD_ALREADY_CONVERTED = declare("lead_already_converted", Conflict, "Esta solicitação já virou cliente.")
INVALID_PHONE = declare("invalid_phone", InvalidInput, "Telefone inválido; informe DDD e número.")
INVALID_TENANT_DOMAIN = declare("invalid_tenant_domain", InvalidInput,
                                "Informe o domínio do tenant Microsoft (ex.: empresa.onmicrosoft.com).")
INVALID_PRODUCT = declare("invalid_product", InvalidInput, "Produto(s) fora do catálogo.")
# The customer's address (the NFS-e taker's, domain/addresses.py): `field` is the one at fault
# ("address.cep"), `reason` says what is wrong with it.
INVALID_ADDRESS = declare("invalid_address", RuleViolation, "Endereço inválido ({field}): {reason}.")

# --- contract ------------------------------------------------------------------------------------

CONTRACT_NOT_FOUND = declare("contract_not_found", NotFound, "Contrato não encontrado.")
SUPPRESSION_NOT_FOUND = declare("suppression_not_found", NotFound, "Este endereço não está suspenso.")
# `situation` is the contract's own words for its status (contract.NOT_ACTIVE_SITUATIONS).
CONTRACT_NOT_ACTIVE = declare("contract_not_active", Conflict,
                              "Esta operação exige um contrato ativo: {situation}.")
CONTRACT_ALREADY_ACCEPTED = declare("contract_already_accepted", Conflict, "Este contrato já foi aceito.")
# The acceptance names the text's version the user read and the current one is another: nothing recorded.
CONTRACT_VERSION_CHANGED = declare("contract_version_changed", Conflict,
                                   "O texto do contrato mudou (versão {current_version}) desde que você o abriu; "
                                   "leia a nova versão e aceite de novo.")
# The version the settings name (CONTRACT_VERSION) has no text in templates/contract/: a deployment's fault.
CONTRACT_DOCUMENT_NOT_FOUND = declare("contract_document_not_found", NotFound,
                                      "O texto do contrato (versão {version}) não está disponível; fale com o "
                                      "atendimento.")
# Accepting orders every contracted item: one the catalog no longer sells stops the acceptance
# (nothing is ordered) until the reseller corrects the contract's items.
CONTRACT_ITEMS_UNAVAILABLE = declare(
    "contract_items_unavailable", Conflict,
    "O contrato não pode ser aceito agora: item(ns) contratado(s) fora do catálogo: {items}. "
    "Fale com o atendimento para corrigir os itens do contrato; nada foi contratado.")
# Billing contacts stay editable until the contract ends: while it awaits acceptance, is active or
# is being rescinded (its last invoice still goes to them).
CONTRACT_TERMINATED = declare("contract_terminated", Conflict,
                              "O contrato foi encerrado; para alterar os contatos de cobrança, fale com o atendimento.")
INVALID_CLOSING_DAY = declare("invalid_closing_day", InvalidInput, "Dia de fechamento deve estar entre 1 e 28.")
INVALID_PAYMENT_METHOD = declare("invalid_payment_method", InvalidInput, "Forma de pagamento inválida.")
# The operator's PATCH of a contract: at least one of its fields.
NOTHING_TO_CHANGE = declare("nothing_to_change", InvalidInput, "Informe ao menos um campo a alterar: {fields}.")
# Once accepted, the contracted items are subscriptions the Master changes on the licence panel.
CONTRACT_ITEMS_LOCKED = declare("contract_items_locked", Conflict,
                                "Os itens só podem ser alterados até o aceite do contrato; depois do aceite, as "
                                "quantidades são alteradas no painel de licenças.")
CONTRACT_TERMS_FROZEN = declare("contract_terms_frozen", Conflict,
                                "O contrato está em rescisão ou encerrado; forma de pagamento, dia de fechamento e "
                                "itens não podem mais ser alterados.")
# An operator's dunning policy for one organisation (domain/dunning.validate_policy).
INVALID_DUNNING_DAY = declare("invalid_dunning_day", InvalidInput,
                              "Campo '{field}': os dias da régua de cobrança contam a partir do vencimento e "
                              "devem ser positivos (1 = o dia seguinte ao vencimento).")
DUNNING_REMINDERS_NOT_ASCENDING = declare("dunning_reminders_not_ascending", InvalidInput,
                                          "Os dias dos lembretes devem estar em ordem crescente e sem repetição "
                                          "(recebido: {reminder_days}).")
DUNNING_DAY_NOT_BEFORE_SUSPENSION = declare("dunning_day_not_before_suspension", InvalidInput,
                                            "'{field}' (D+{day}) deve vir antes da suspensão (D+{suspension_day}).")

# --- catalog and cart ----------------------------------------------------------------------------

PRODUCT_NOT_FOUND = declare("product_not_found", NotFound, "Produto não encontrado no catálogo.")
PRODUCT_UNAVAILABLE = declare("product_unavailable", Conflict, "O produto {sku} não está mais disponível.")
INVALID_BILLING_PLAN = declare("invalid_billing_plan", RuleViolation,
                               "O prazo {term} não aceita a cobrança '{billing_frequency}' "
                               "(veja em 'allowed' as cobranças aceitas para esse prazo).")
CART_ITEM_NOT_FOUND = declare("cart_item_not_found", NotFound, "Produto não está no carrinho.")
CART_FULL = declare("cart_full", RuleViolation, "O carrinho aceita até {max_lines} produtos.")
CART_EMPTY = declare("cart_empty", RuleViolation, "O carrinho está vazio.")
# Another checkout of the same cart (or an edit of it) committed first: this one bought nothing.
CART_CHANGED = declare("cart_changed", Conflict,
                       "O carrinho mudou durante a finalização (outra finalização ou edição); confira o carrinho.")
# The checkout names the cart the customer reviewed (`items`) and the cart differs now: nothing bought.
CART_CHANGED_SINCE_REVIEW = declare("cart_changed_since_review", Conflict,
                                    "O carrinho mudou desde a revisão; revise o pedido de novo.")
# `rule` is domain.catalog.SKU_RULE, in the error's details for a client to check before sending.
INVALID_SKU = declare("invalid_sku", InvalidInput,
                      "SKU inválido em '{field}': de 2 a 64 caracteres, só letras maiúsculas, dígitos e hífen, "
                      "começando por letra ou dígito.")
# `rule` is domain.catalog.OFFER_ID_RULE.
INVALID_OFFER_ID = declare("invalid_offer_id", InvalidInput,
                           "Oferta inválida em '{field}': informe o id da oferta New Commerce do Partner Center, "
                           "'productId:skuId' (ex.: CFQ7TTC0LCHC:0002).")

# --- subscriptions and their changes -------------------------------------------------------------

SUBSCRIPTION_NOT_FOUND = declare("subscription_not_found", NotFound, "Assinatura não encontrada.")
CHANGE_NOT_FOUND = declare("change_not_found", NotFound, "Alteração não encontrada.")
INVALID_QUANTITY = declare("invalid_quantity", InvalidInput,
                           "Quantidade deve ser um número inteiro entre {minimum} e {maximum}.")
INVALID_REASON = declare("invalid_reason", InvalidInput, "Motivo inválido.")
REASON_REQUIRED = declare("reason_required", InvalidInput, "Informe o motivo para reduzir a zero.")
SUBSCRIPTION_NOT_ACTIVE = declare("subscription_not_active", Conflict,
                                  "Esta assinatura não pode ser alterada no estado atual.")
CHANGE_IN_PROGRESS = declare("change_in_progress", Conflict,
                             "Já existe uma alteração em andamento para esta assinatura.")
QUANTITY_UNCHANGED = declare("quantity_unchanged", RuleViolation, "A quantidade informada é a atual.")
# Per-product quantity limits (issue #21 §4): domain/catalog.ensure_quantity_allowed, validate_quantity_limits.
QUANTITY_BELOW_MINIMUM = declare("quantity_below_minimum", RuleViolation,
                                 "O produto {product} exige no mínimo {minimum} licença(s).")
QUANTITY_ABOVE_MAXIMUM = declare("quantity_above_maximum", RuleViolation,
                                 "O produto {product} permite no máximo {maximum} licença(s).")
INVALID_QUANTITY_LIMITS = declare("invalid_quantity_limits", RuleViolation,
                                  "Limite inválido em '{field}': informe um número inteiro entre {minimum} e {maximum}.")
SCHEDULED_REDUCTION_PENDING = declare(
    "scheduled_reduction_pending", Conflict,
    "Há uma redução agendada para a renovação. Para comprar mais licenças agora, cancele a redução antes "
    "(altere para a quantidade atual) ou agende outra quantidade.")
PURCHASE_IN_PROGRESS = declare("purchase_in_progress", Conflict,
                               "Há uma compra em provisionamento; aguarde a conclusão para rescindir o contrato.")
# Dunning: from the block day of an unpaid invoice (domain/dunning.ensure_purchases_allowed);
# reductions and payments still go through.
OVERDUE_BLOCK = declare("overdue_block", RuleViolation,
                        "Novas compras e aumentos de licenças estão bloqueados: a fatura nº {number}, vencida em "
                        "{due_date}, tem saldo em aberto de {balance}. Assim que o pagamento for registrado, o "
                        "bloqueio é retirado; reduções e pagamentos continuam disponíveis.")
# Suspended for an invoice long overdue (services/suspensions.py): reactivated when it is paid.
SUBSCRIPTION_SUSPENDED = declare("subscription_suspended", Conflict,
                                 "A assinatura {name} está suspensa por falta de pagamento e sua quantidade não pode "
                                 "ser alterada. Ela é reativada automaticamente quando a fatura vencida é paga.")
# Why the provisioning worker gave up on a change for good (recorded on the change, told to the
# requester and the operators in the change_failed email); never an HTTP answer.
LICENCE_PROVIDER_REJECTED = declare("licence_provider_rejected", RuleViolation,
                                    "A Microsoft recusou a operação: {description} (código {provider_code}).")
MICROSOFT_CUSTOMER_NOT_LINKED = declare(
    "microsoft_customer_not_linked", RuleViolation,
    "O tenant Microsoft {domain} ainda não aceitou o convite de revenda da Brasoftware (relação de parceiro "
    "no Centro de administração do Microsoft 365). Um administrador global do tenant precisa aceitá-lo; depois "
    "disso, faça o pedido novamente.")
OFFER_NOT_MAPPED = declare("offer_not_mapped", RuleViolation,
                           "O produto {sku} ainda não tem a oferta do Partner Center no catálogo; o operador "
                           "precisa informá-la antes de o produto ser contratado.")
ORDER_STILL_PENDING = declare("order_still_pending", RuleViolation,
                              "O pedido {order_id} continuava em processamento na Microsoft após {polls} consultas; "
                              "os operadores vão conferi-lo no Partner Center.")

# --- purchase approvals (issue #21 §4) ----------------------------------------------------------

APPROVAL_NOT_FOUND = declare("approval_not_found", NotFound, "Solicitação de aprovação não encontrada.")
APPROVAL_NOT_PENDING = declare("approval_not_pending", Conflict,
                               "Esta solicitação já foi decidida ({status}); nada foi comprado de novo.")
APPROVAL_EXPIRED = declare("approval_expired", Conflict,
                           "Esta solicitação expirou em {expires_at} sem decisão e não pode mais ser aprovada; "
                           "o pedido precisa ser feito de novo.")

# --- invoices, payments and billing runs ---------------------------------------------------------

INVOICE_NOT_FOUND = declare("invoice_not_found", NotFound, "Fatura não encontrada.")
INVOICE_NOT_PAYABLE = declare("invoice_not_payable", Conflict, "Esta fatura não aceita pagamentos.")
INVALID_AMOUNT = declare("invalid_amount", InvalidInput, "Valor deve ser positivo.")
OVERPAYMENT = declare("overpayment", RuleViolation, "Valor maior que o saldo da fatura.")
INVALID_PERIOD = declare("invalid_period", InvalidInput, "Período deve ser AAAA-MM.")
BILLING_RUN_NOT_FOUND = declare("billing_run_not_found", NotFound, "Execução de faturamento não encontrada.")
INVOICE_NUMBER_CONTENTION = declare("invoice_number_contention", Conflict,
                                    "Não foi possível numerar a fatura; tente de novo.")
# Corrections: cancelling an invoice, credit notes.
INVOICE_NOT_CANCELLABLE = declare("invoice_not_cancellable", Conflict,
                                  "A fatura nº {number} está {status_label}; só faturas em aberto ou vencidas "
                                  "podem ser canceladas.")
INVOICE_HAS_PAYMENTS = declare("invoice_has_payments", RuleViolation,
                               "A fatura nº {number} já recebeu pagamentos ({paid}) e não pode ser cancelada: "
                               "estornos não são feitos pelo portal. Conceda uma nota de crédito ou fale com o "
                               "financeiro.")
INVOICE_DOCUMENTS_PENDING = declare("invoice_documents_pending", Conflict,
                                    "A fatura nº {number} ainda está sendo emitida (boleto, nota fiscal, e-mail); "
                                    "tente de novo em instantes.")
INVOICE_HAS_CREDIT_NOTES = declare("invoice_has_credit_notes", RuleViolation,
                                   "A fatura nº {number} já tem notas de crédito ({credited}); cancelá-la "
                                   "devolveria o valor duas vezes.")
NFSE_CANCELLATION_REFUSED = declare("nfse_cancellation_refused", Conflict,
                                    "O emissor recusou o cancelamento da nota fiscal nº {number} ({reason}); "
                                    "a fatura não foi cancelada.")
CANCELLATION_IN_PROGRESS = declare("cancellation_in_progress", Conflict,
                                   "O cancelamento desta fatura já está em andamento.")
INVOICE_NOT_CREDITABLE = declare("invoice_not_creditable", Conflict,
                                 "A fatura nº {number} está cancelada; uma fatura cancelada não recebe nota de "
                                 "crédito.")
CREDIT_EXCEEDS_INVOICE = declare("credit_exceeds_invoice", RuleViolation,
                                 "O crédito excede o que resta creditar na fatura nº {number}: no máximo "
                                 "{available}.")
# A credit note was used by another invoice between our read and our write: the worker retries.
CREDITS_CHANGED = declare("credits_changed", Conflict,
                          "Os créditos da organização mudaram durante a emissão; tente de novo.")
# Caught by class inside the billing worker: a rerun skips, a taken number is tried again.
ALREADY_INVOICED = declare("already_invoiced", AlreadyInvoiced, "Fatura já emitida para este período.")
INVOICE_NUMBER_TAKEN = declare("invoice_number_taken", NumberTaken, "Número de fatura tomado por outro processo.")
# Bank return files (CNAB 240, POST /backoffice/payments/cnab): the file as a whole; its lines are
# reported one by one in the answer, never as an error.
CNAB_NOT_A_RETURN_FILE = declare("cnab_not_a_return_file", InvalidInput,
                                 "O arquivo não é um retorno CNAB 240 de cobrança (linha {line}): {reason}.")
CNAB_TOO_MANY_TITLES = declare("cnab_too_many_titles", PayloadTooLarge,
                               "O arquivo tem {titles} títulos; importe no máximo {max_titles} por vez "
                               "(divida o arquivo).")
# The operator's dispute flag (services/receivables.py).
INVOICE_NOT_DISPUTABLE = declare("invoice_not_disputable", Conflict,
                                 "A fatura nº {number} está {status_label}; só faturas em aberto ou vencidas podem "
                                 "ser marcadas em contestação.")
INVOICE_ALREADY_DISPUTED = declare("invoice_already_disputed", Conflict,
                                   "A fatura nº {number} já está em contestação desde {opened_on}.")
INVOICE_NOT_DISPUTED = declare("invoice_not_disputed", Conflict, "A fatura nº {number} não está em contestação.")
# The operator's receivables (GET /backoffice/invoices).
INVALID_DUE_DATE = declare("invalid_due_date", InvalidInput,
                           "Data inválida em '{field}': use AAAA-MM-DD (ex.: 2026-11-30).")
INVALID_DUE_RANGE = declare("invalid_due_range", InvalidInput,
                            "'due_from' ({due_from}) deve ser igual ou anterior a 'due_to' ({due_to}).")
INVALID_INVOICE_STATUS = declare("invalid_invoice_status", InvalidInput,
                                 "Situação inválida em '{field}': use open, overdue, paid ou cancelled (ou omita "
                                 "para ver o que há a receber: em aberto e vencidas).")
RECEIVABLES_FILTER_TOO_LARGE = declare("receivables_filter_too_large", RuleViolation,
                                       "O filtro abrange mais de {max_invoices} faturas: restrinja o período de "
                                       "vencimento (due_from, due_to), a situação ou o cliente.")
# The bank's payment webhook (POST /webhooks/bank/{token}, services/bank_webhooks.py). A wrong
# token answers as a route that does not exist would: nothing tells a guess it came close.
NOT_FOUND = declare("not_found", NotFound, "Recurso não encontrado.")
BANK_WEBHOOK_UNREADABLE = declare("bank_webhook_unreadable", InvalidInput,
                                  "A notificação não está no formato do banco: nenhum boleto identificado.")
BANK_WEBHOOK_TOO_MANY_BOLETOS = declare("bank_webhook_too_many_boletos", PayloadTooLarge,
                                        "A notificação cita {boletos} boletos; no máximo {max_boletos} por chamada.")
# 503 so the bank sends the notification again: what was recorded before is not recorded twice.
BANK_WEBHOOK_RETRY = declare("bank_webhook_retry", ServiceUnavailable,
                             "Notificação não processada por inteiro ({reason}); reenvie mais tarde: os pagamentos "
                             "já registrados não se repetem.")

# --- invoice documents: boleto, Pix, NFS-e -------------------------------------------------------

BOLETO_NOT_AVAILABLE = declare("boleto_not_available", NotFound,
                               "Esta fatura não tem boleto (pagamento por depósito ou boleto ainda não emitido).")
# A second copy asked for an invoice paid by deposit: the invoice exists, the request does not fit it.
SECOND_COPY_NOT_APPLICABLE = declare("second_copy_not_applicable", Conflict,
                                     "Esta fatura é paga por depósito; não há boleto.")
# Another request is registering this invoice's second copy at the bank right now.
SECOND_COPY_IN_PROGRESS = declare("second_copy_in_progress", Conflict,
                                  "Uma segunda via desta fatura já está sendo emitida; consulte o boleto da fatura "
                                  "em instantes.")
INVOICE_NOT_OVERDUE = declare("invoice_not_overdue", Conflict, "Só faturas vencidas têm segunda via.")
# The second copy names the previewed total and due date and today's quote differs: nothing issued.
SECOND_COPY_QUOTE_CHANGED = declare("second_copy_quote_changed", Conflict,
                                    "O valor ou o vencimento da segunda via mudou desde a prévia; confira a nova "
                                    "prévia e emita de novo.")
NFSE_NOT_AVAILABLE = declare("nfse_not_available", NotFound, "A nota fiscal desta fatura ainda não foi emitida.")
INVALID_BOLETO = declare("invalid_boleto", InvalidBoleto,
                         "Boleto inválido: o código de barras ou a linha digitável não confere.")
INVALID_PIX = declare("invalid_pix", InvalidInput, "Código Pix (BR Code) inválido.")
# The bank's cobrança API did not answer: nothing was registered or cancelled, the claim was released.
BANK_UNAVAILABLE = declare("bank_unavailable", ServiceUnavailable,
                           "O banco não respondeu; nada foi alterado. Tente de novo em alguns minutos.")
# The bank answered a boleto whose barcode or linha digitável is not the one FEBRABAN's maths give
# for it: it is never shown (it would pay something else); the registration is withdrawn.
BANK_CODES_MISMATCH = declare("bank_codes_mismatch", ServiceUnavailable,
                              "O banco devolveu um boleto que não confere com os nossos cálculos; nada foi "
                              "emitido. A equipe financeira foi avisada.")
# The bank refused the boleto for what it says (its validation): retrying as is would be refused again.
BANK_REJECTED = declare("bank_rejected", RuleViolation,
                        "O banco recusou o registro do boleto ({reasons}). Corrija os dados indicados (endereço "
                        "do cliente, configuração da cobrança) e tente de novo.")
# Cancelling an invoice or re-emitting its NFS-e: nothing was changed, the claim was released.
NFSE_EMITTER_UNAVAILABLE = declare("nfse_emitter_unavailable", ServiceUnavailable,
                                   "O emissor de notas fiscais não respondeu; nada foi alterado. "
                                   "Tente de novo em alguns minutos.")
# The A1 certificate cannot sign (the secret missing, still the placeholder, expired, another CNPJ's).
NFSE_CERTIFICATE_UNAVAILABLE = declare("nfse_certificate_unavailable", ServiceUnavailable,
                                       "O certificado digital A1 das notas fiscais não está disponível ({reason}); "
                                       "nada foi alterado.")
# A nosso número already names another invoice's boleto: a return file could not tell them apart.
BOLETO_NUMBER_TAKEN = declare("boleto_number_taken", Conflict,
                              "O nosso número {nosso_numero} já pertence ao boleto de outra fatura.")
# The operator's NFS-e re-emission (POST /backoffice/invoices/{id}/nfse).
NFSE_ALREADY_ISSUED = declare("nfse_already_issued", Conflict,
                              "A fatura nº {number} já tem a nota fiscal nº {nfse_number}.")
NFSE_INVOICE_CANCELLED = declare("nfse_invoice_cancelled", Conflict,
                                 "A fatura nº {number} está cancelada; não se emite nota fiscal para ela.")
NFSE_EMISSION_IN_PROGRESS = declare("nfse_emission_in_progress", Conflict,
                                    "A nota fiscal desta fatura já está sendo emitida; consulte a fatura em instantes.")
INVALID_NFSE_FILTER = declare("invalid_nfse_filter", InvalidInput,
                              "Filtro inválido em '{field}': use rejected (as faturas cuja nota fiscal o emissor "
                              "recusou) ou omita.")
# `rejections`: each {code, message, detail} as the emitter gave them; recorded on the invoice too.
NFSE_REJECTED = declare("nfse_rejected", RuleViolation,
                        "O emissor recusou a nota fiscal da fatura nº {number} ({reasons}). Corrija os dados "
                        "indicados (cadastro do cliente, endereço, configuração fiscal) e emita de novo.")
# A boleto is never sent to the bank for a payer without an address (the bank requires it).
BOLETO_PAYER_ADDRESS_MISSING = declare(
    "boleto_payer_address_missing", RuleViolation,
    "O boleto não pode ser registrado: o endereço da empresa pagadora não está cadastrado, e o banco o exige. "
    "A equipe financeira o completa no back office (PUT /backoffice/organizations/{organization_id}/address); "
    "depois, peça o boleto de novo. Nada foi registrado.")
# The operator's new registration of a refused boleto (POST /backoffice/invoices/{id}/boleto).
BOLETO_NOT_NEEDED = declare("boleto_not_needed", Conflict,
                            "A fatura nº {number} não tem boleto a registrar: {reason}.")
INVALID_BOLETO_FILTER = declare("invalid_boleto_filter", InvalidInput,
                                "Filtro inválido em '{field}': use rejected (as faturas cujo boleto foi recusado) "
                                "ou omita.")
# The bank says the boleto a second copy or a cancellation would replace is paid already: the
# payment was settled now (as the bank's webhook does) and nothing else was done.
BOLETO_ALREADY_PAID = declare("boleto_already_paid", Conflict,
                              "O banco já recebeu o pagamento deste boleto em {paid_on}; a fatura foi baixada.")
INVOICE_PAID_AT_BANK = declare("invoice_paid_at_bank", Conflict,
                               "O banco já recebeu o pagamento do boleto desta fatura em {paid_on}; a fatura foi "
                               "baixada e não foi cancelada. Para devolver o valor ao cliente, estorne-o ou conceda "
                               "uma nota de crédito.")

# --- support -------------------------------------------------------------------------------------

TICKET_NOT_FOUND = declare("ticket_not_found", NotFound, "Chamado não encontrado.")
TICKET_CLOSED = declare("ticket_closed", Conflict, "Este chamado está fechado; abra um novo chamado.")
INVALID_STATUS_TRANSITION = declare("invalid_status_transition", Conflict,
                                    "Um chamado '{from_label}' não pode passar a '{to_label}'.")
# Attachments: the product checks size and type by content (the bucket does not).
ATTACHMENT_EMPTY = declare("attachment_empty", InvalidInput, "O arquivo está vazio.")
ATTACHMENT_TOO_LARGE = declare("attachment_too_large", PayloadTooLarge,
                               "O arquivo tem {size_label}; o limite é {max_label} por arquivo.")
ATTACHMENT_TYPE_NOT_ALLOWED = declare("attachment_type_not_allowed", UnsupportedMediaType,
                                      "Tipo de arquivo não aceito: envie uma imagem PNG ou JPEG, um PDF, um texto "
                                      "(.txt, .log) ou um .zip.")
INVALID_ATTACHMENT_NAME = declare("invalid_attachment_name", InvalidInput, "Informe o nome do arquivo.")
ATTACHMENT_NOT_FOUND = declare("attachment_not_found", NotFound, "Anexo não encontrado.")
ATTACHMENT_LIMIT_REACHED = declare("attachment_limit_reached", Conflict,
                                   "Este chamado já tem {max_attachments} anexos, o limite por chamado: envie os "
                                   "demais arquivos juntos em um .zip ou abra um novo chamado.")
# The organisation's personal data were anonymised (LGPD): its files were deleted, the record stays.
ATTACHMENT_REMOVED = declare("attachment_removed", NotFound,
                             "Este anexo foi removido: os dados pessoais do cliente foram anonimizados (LGPD).")
ATTACHMENT_NOT_AVAILABLE = declare("attachment_not_available", InvalidInput,
                                   "O anexo não está disponível para esta mensagem: ele é de outro chamado, de outra "
                                   "pessoa ou já foi enviado em outra mensagem.")

# --- audit trail and portal files ----------------------------------------------------------------

AUDIT_OVERWRITE_REFUSED = declare("audit_overwrite_refused", AuditOverwriteRefused,
                                  "Registro de auditoria já existe.")
ASSET_NOT_FOUND = declare("asset_not_found", NotFound, "Arquivo não encontrado.")

# --- privacy (LGPD) ------------------------------------------------------------------------------

EXPORT_NOT_FOUND = declare("export_not_found", NotFound, "Exportação não encontrada.")
# The export's link lived its minutes: the product hands out no other (S3 keeps the file only a day).
EXPORT_EXPIRED = declare("export_expired", NotFound, "O link desta exportação expirou; gere uma nova exportação.")

# --- spend report (issue #21 §1) -----------------------------------------------------------------

INVALID_REPORT_MONTH = declare("invalid_report_month", InvalidInput,
                               "Mês inválido em '{field}': use o formato AAAA-MM (por exemplo 2026-01).")
INVALID_GROUP_BY = declare("invalid_group_by", InvalidInput, "Agrupamento inválido em '{field}'.")
REPORT_PERIOD_REVERSED = declare("report_period_reversed", RuleViolation,
                                 "O mês inicial ({first}) é posterior ao mês final ({last}).")
REPORT_PERIOD_TOO_LONG = declare("report_period_too_long", RuleViolation,
                                 "O período pode ter no máximo {maximum} meses (pedido: {months}).")


# --- exports for the customer's ERP (issue #21 §2, domain/exports.py) ------------------------------

INVALID_EXPORT_DATE = declare("invalid_export_date", InvalidInput,
                              "Data inválida em '{field}': use AAAA-MM-DD (ex.: 2026-11-30).")
INVALID_EXPORT_RANGE = declare("invalid_export_range", InvalidInput,
                               "O início do período deve ser igual ou anterior ao fim.")
EXPORT_PERIOD_TOO_LONG = declare("export_period_too_long", InvalidInput,
                                 "O período de uma exportação é de no máximo {max_days} dias.")


# --- webhooks (issue #21 §3) ----------------------------------------------------------------------

WEBHOOK_URL_INVALID = declare("webhook_url_invalid", RuleViolation, "Endereço do webhook inválido: {reason}.")
WEBHOOK_URL_NOT_PUBLIC = declare("webhook_url_not_public", RuleViolation,
                                 "O endereço do webhook aponta para uma rede privada ou reservada: "
                                 "use um endereço público na internet.")  # never the address: no DNS oracle
WEBHOOK_URL_UNRESOLVABLE = declare("webhook_url_unresolvable", RuleViolation,
                                   "Não foi possível encontrar o servidor '{host}' (DNS).")
WEBHOOK_EVENTS_REQUIRED = declare("webhook_events_required", RuleViolation, "Escolha ao menos um evento.")
WEBHOOK_EVENT_UNKNOWN = declare("webhook_event_unknown", RuleViolation,
                                "Evento desconhecido: '{event}'. Os eventos são: {known}.")
WEBHOOK_LIMIT_REACHED = declare("webhook_limit_reached", Conflict,
                                "A organização já tem {max_endpoints} webhooks, o limite: remova um antes de "
                                "cadastrar outro.")
WEBHOOK_NOT_FOUND = declare("webhook_not_found", NotFound, "Webhook não encontrado.")
WEBHOOK_DELIVERY_NOT_FOUND = declare("webhook_delivery_not_found", NotFound, "Entrega de webhook não encontrada.")
