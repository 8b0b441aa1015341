"""Every setting of csp-portal, read from the environment in one place.

The Lambda gets these from `.chalice/config.json` (per stage) and the CloudFormation in `infra/`;
`make run` and the tests set them for the embedded moto server. Nothing else reads `os.environ`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Mapping, Optional, Tuple

from .domain import nfse as nfse_rules
from .domain.dunning import DunningPolicy
from .domain.nfse import ProviderRegistration, ServiceTerms
from .domain.organizations import format_cnpj
from .domain.sign_in import ThrottlePolicy
from .domain.subscriptions import QuantityLimits


# The Sefin Nacional's API per environment (tpAmb).
SEFIN_NACIONAL_URLS = {
    nfse_rules.PRODUCTION: "https://sefin.nfse.gov.br/SefinNacional",
    nfse_rules.RESTRICTED_PRODUCTION: "https://sefin.producaorestrita.nfse.gov.br/SefinNacional",
}


@dataclass(frozen=True)
class SignInSettings:
    """Failed-login limits (domain/sign_in.py) and the lifetimes of the app client's tokens
    (infra/resources.json: AccessTokenValidity, RefreshTokenValidity), which decide how long the
    product remembers a session and a logged-out one."""

    email: ThrottlePolicy = ThrottlePolicy()
    # A source IP is shared by a whole office behind one NAT: it slows down and locks later.
    ip: ThrottlePolicy = ThrottlePolicy(failures_before_delay=20, failures_before_lock=50)
    access_token_lifetime: timedelta = timedelta(minutes=60)
    refresh_token_lifetime: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class SupportContacts:
    phone: str
    email: str
    service_desk_url: str
    specialists_phone: str
    specialists_email: str


@dataclass(frozen=True)
class PrivacyContacts:
    """LGPD: who controls the personal data (the reseller) and its DPO ("encarregado", art. 41)."""

    controller_name: str
    controller_cnpj: str  # formatted (45.997.418/0001-53)
    controller_address: str
    dpo_name: str
    dpo_email: str
    dpo_phone: str


@dataclass(frozen=True)
class DepositAccount:
    """Where a `deposito` invoice is paid: the reseller's account, its holder (favorecido) and Pix key."""

    bank: str  # e.g. "Banco do Brasil (001)"
    agency: str
    account: str
    beneficiary: str  # the favorecido: BENEFICIARY_NAME
    cnpj: str  # BENEFICIARY_CNPJ, formatted (45.997.418/0001-53)
    pix_key: Optional[str]


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    table_name: str
    documents_bucket: str
    email_queue_name: str
    provisioning_queue_name: str
    billing_queue_name: str
    user_pool_id: str
    user_pool_client_id: str
    # Cognito's issuer is always the AWS form; the JWKS may live elsewhere (moto locally).
    jwks_url: str
    mail_sender: str
    portal_url: str
    office365_admin_url: str
    contract_version: str
    # When set, every email sent is also written there as a .eml file (local runs, debugging).
    mail_copy_dir: Optional[str]
    max_body_bytes: int
    # Seat bounds and Microsoft's cancellation window (MAX_QUANTITY, CANCELLATION_WINDOW_DAYS).
    quantity_limits: QuantityLimits
    provisioning_max_attempts: int
    provisioning_backoff_seconds: int
    # "simulated" locally; Partner Center needs credentials this repo does not hold (see README).
    licence_provider: str
    simulated_provider_failure_rate: float
    simulated_provider_delay_seconds: float
    bank_provider: str  # "simulated" until a bank's cobrança API is wired
    nfse_provider: str  # "simulated" until the national NFS-e API is wired
    invoice_due_days: int
    # The floor under a due date: a boleto leaves at least this many bank business days after the
    # day it is issued, so a late run, a rerun or a final invoice never issues one already overdue.
    invoice_min_business_days_after_issue: int
    # Bank holidays beyond the national ones: the state's (holidays' subdivision code) and the
    # city's, as MM-DD (São Paulo city: 25 January).
    bank_state: Optional[str]
    bank_city_holidays: Tuple[str, ...]
    # Boleto: which bank's layout, and the reseller's account there.
    boleto_bank: str  # "bb" (convênio de 7 dígitos) or "itau" (carteira 109)
    boleto_bb_convenio: str
    boleto_bb_carteira: str
    boleto_itau_agencia: str
    boleto_itau_conta: str
    boleto_itau_carteira: str
    beneficiary_name: str
    beneficiary_cnpj: str
    pix_key: Optional[str]
    pix_city: str
    # Built from DEPOSIT_BANK/AGENCY/ACCOUNT and the beneficiary's name, CNPJ and Pix key above.
    deposit_account: DepositAccount
    nfse_service_code: str  # national "código de tributação" (1.05.01: software licensing)
    nfse_service_description: str
    iss_rate: str  # a decimal, e.g. "0.029"
    # The national NFS-e (README, "NFS-e"): where DPSs go, the certificate that signs them, the
    # reseller's fiscal registration and the service's terms as data.
    nfse_environment: str  # tpAmb: "1" produção, "2" produção restrita (the Sefin's test environment)
    nfse_api_url: str  # the Sefin Nacional's base URL; NFSE_API_URL overrides the environment's
    nfse_certificate_secret: str  # Secrets Manager id of the A1 certificate (adapters/certificates.py)
    nfse_registration: ProviderRegistration
    nfse_terms: ServiceTerms
    late_fine_rate: str
    late_monthly_interest: str
    second_copy_due_days: int
    document_link_seconds: int
    lead_rate_limit_per_hour: int
    operators_email: str  # where new contract requests are announced
    support: SupportContacts = field(repr=False)
    privacy: PrivacyContacts = field(repr=False)
    # LGPD: how long an export's link answers (EXPORT_LINK_SECONDS), and the years fiscal documents are
    # kept after a contract ends before its users' personal data is anonymised (FISCAL_RETENTION_YEARS).
    export_link_seconds: int
    fiscal_retention_years: int
    sign_in: SignInSettings = field(default_factory=SignInSettings)
    # The reseller's dunning policy (DUNNING_REMINDER_DAYS "1,7,15", DUNNING_BLOCK_DAY,
    # DUNNING_WARNING_DAY, DUNNING_SUSPENSION_DAY); an operator may override it per organisation.
    dunning: DunningPolicy = field(default_factory=DunningPolicy)

    @property
    def token_issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


def from_environ(environ: Mapping[str, str]) -> Settings:
    """Build Settings from an environment mapping (os.environ in production)."""
    stage = environ.get("CSP_STAGE", "dev")
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "sa-east-1"
    user_pool_id = environ.get("USER_POOL_ID", "")
    beneficiary_name = environ.get("BENEFICIARY_NAME", "Brasoftware Informática Ltda")
    beneficiary_cnpj = environ.get("BENEFICIARY_CNPJ", "45997418000153")
    pix_key = environ.get("PIX_KEY", "financeiro@brasoftware.com.br") or None
    issuer = f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
    controller_cnpj = environ.get("PRIVACY_CONTROLLER_CNPJ", beneficiary_cnpj)
    return Settings(
        stage=stage,
        region=region,
        table_name=environ.get("TABLE_NAME", f"csp-portal-{stage}"),
        documents_bucket=environ.get("DOCUMENTS_BUCKET", f"csp-portal-{stage}-documents"),
        email_queue_name=environ.get("EMAIL_QUEUE_NAME", "csp-portal-email"),
        provisioning_queue_name=environ.get("PROVISIONING_QUEUE_NAME", "csp-portal-provisioning"),
        billing_queue_name=environ.get("BILLING_QUEUE_NAME", "csp-portal-billing"),
        user_pool_id=user_pool_id,
        user_pool_client_id=environ.get("USER_POOL_CLIENT_ID", ""),
        jwks_url=environ.get("JWKS_URL") or f"{issuer}/.well-known/jwks.json",
        mail_sender=environ.get("MAIL_SENDER", "Brasoftware Cloud <nao-responda@brasoftware.com.br>"),
        portal_url=environ.get("PORTAL_URL", "https://portal.brasoftwarecloud.com.br"),
        office365_admin_url=environ.get("OFFICE365_ADMIN_URL", "https://admin.microsoft.com"),
        contract_version=environ.get("CONTRACT_VERSION", "2026.1"),
        mail_copy_dir=environ.get("MAIL_COPY_DIR") or None,
        max_body_bytes=int(environ.get("MAX_BODY_BYTES", "65536")),
        quantity_limits=QuantityLimits(
            maximum=int(environ.get("MAX_QUANTITY", "10000")),
            cancellation_window=timedelta(days=int(environ.get("CANCELLATION_WINDOW_DAYS", "7")))),
        provisioning_max_attempts=int(environ.get("PROVISIONING_MAX_ATTEMPTS", "5")),
        provisioning_backoff_seconds=int(environ.get("PROVISIONING_BACKOFF_SECONDS", "30")),
        licence_provider=environ.get("LICENCE_PROVIDER", "simulated"),
        simulated_provider_failure_rate=float(environ.get("SIMULATED_PROVIDER_FAILURE_RATE", "0")),
        simulated_provider_delay_seconds=float(environ.get("SIMULATED_PROVIDER_DELAY_SECONDS", "0")),
        bank_provider=environ.get("BANK_PROVIDER", "simulated"),
        nfse_provider=environ.get("NFSE_PROVIDER", "simulated"),
        invoice_due_days=int(environ.get("INVOICE_DUE_DAYS", "10")),
        # 3, as a second copy: time for the email to arrive and the boleto to be paid and cleared.
        invoice_min_business_days_after_issue=int(environ.get("INVOICE_MIN_BUSINESS_DAYS_AFTER_ISSUE", "3")),
        bank_state=environ.get("BANK_STATE", "SP") or None,
        boleto_bank=environ.get("BOLETO_BANK", "bb"),
        boleto_bb_convenio=environ.get("BOLETO_BB_CONVENIO", "1234567"),
        boleto_bb_carteira=environ.get("BOLETO_BB_CARTEIRA", "18"),
        boleto_itau_agencia=environ.get("BOLETO_ITAU_AGENCIA", "0293"),
        boleto_itau_conta=environ.get("BOLETO_ITAU_CONTA", "01328"),
        boleto_itau_carteira=environ.get("BOLETO_ITAU_CARTEIRA", "109"),
        beneficiary_name=beneficiary_name,
        beneficiary_cnpj=beneficiary_cnpj,
        pix_key=pix_key,
        pix_city=environ.get("PIX_CITY", "Sao Paulo"),
        deposit_account=DepositAccount(
            bank=environ.get("DEPOSIT_BANK", "Banco do Brasil (001)"),
            agency=environ.get("DEPOSIT_AGENCY", "3064-7"),
            account=environ.get("DEPOSIT_ACCOUNT", "12345-6"),
            beneficiary=beneficiary_name,
            cnpj=format_cnpj(beneficiary_cnpj) if len(beneficiary_cnpj) == 14 else beneficiary_cnpj,
            pix_key=pix_key),
        nfse_service_code=environ.get("NFSE_SERVICE_CODE", "010501"),
        nfse_service_description=environ.get(
            "NFSE_SERVICE_DESCRIPTION", "Licenciamento de uso de programas de computação (Microsoft CSP)"),
        iss_rate=environ.get("ISS_RATE", "0.029"),
        nfse_environment=environ.get("NFSE_ENVIRONMENT", nfse_rules.RESTRICTED_PRODUCTION),
        nfse_api_url=environ.get("NFSE_API_URL") or SEFIN_NACIONAL_URLS.get(
            environ.get("NFSE_ENVIRONMENT", nfse_rules.RESTRICTED_PRODUCTION), ""),
        nfse_certificate_secret=environ.get("NFSE_CERTIFICATE_SECRET", "csp-portal/nfse-certificate"),
        nfse_registration=nfse_rules.ProviderRegistration(
            cnpj=beneficiary_cnpj, name=beneficiary_name,
            municipal_registration=environ.get("NFSE_MUNICIPAL_REGISTRATION", "12345678") or None,
            city_code=environ.get("NFSE_CITY_CODE", "3550308"),  # São Paulo
            simples_nacional=environ.get("NFSE_SIMPLES_NACIONAL", "1"),  # não optante
            special_regime=environ.get("NFSE_SPECIAL_REGIME", "0")),
        nfse_terms=nfse_rules.ServiceTerms(
            national_code=environ.get("NFSE_SERVICE_CODE", "010501"),
            nbs_code=environ.get("NFSE_NBS_CODE", "") or None,
            description=environ.get("NFSE_SERVICE_DESCRIPTION",
                                    "Licenciamento de uso de programas de computação (Microsoft CSP)"),
            municipal_code=environ.get("NFSE_MUNICIPAL_SERVICE_CODE", "") or None,
            iss_taxation=environ.get("NFSE_ISS_TAXATION", "1"),
            iss_withholding=environ.get("NFSE_ISS_WITHHOLDING", "1"),
            iss_rate=environ.get("ISS_RATE", "0.029") or None,
            total_taxes_indicator=environ.get("NFSE_TOTAL_TAXES_INDICATOR", "0")),
        late_fine_rate=environ.get("LATE_FINE_RATE", "0.02"),
        late_monthly_interest=environ.get("LATE_MONTHLY_INTEREST", "0.01"),
        second_copy_due_days=int(environ.get("SECOND_COPY_DUE_DAYS", "3")),
        document_link_seconds=int(environ.get("DOCUMENT_LINK_SECONDS", "300")),
        lead_rate_limit_per_hour=int(environ.get("LEAD_RATE_LIMIT_PER_HOUR", "5")),
        operators_email=environ.get("OPERATORS_EMAIL", "comercial@brasoftware.com.br"),
        bank_city_holidays=tuple(d.strip() for d in environ.get("BANK_CITY_HOLIDAYS", "01-25").split(",") if d.strip()),
        sign_in=SignInSettings(
            email=ThrottlePolicy(failures_before_delay=int(environ.get("LOGIN_FAILURES_BEFORE_DELAY", "5")),
                                 failures_before_lock=int(environ.get("LOGIN_FAILURES_BEFORE_LOCK", "10")),
                                 lock=timedelta(minutes=int(environ.get("LOGIN_LOCK_MINUTES", "30")))),
            ip=ThrottlePolicy(failures_before_delay=int(environ.get("LOGIN_IP_FAILURES_BEFORE_DELAY", "20")),
                              failures_before_lock=int(environ.get("LOGIN_IP_FAILURES_BEFORE_LOCK", "50")),
                              lock=timedelta(minutes=int(environ.get("LOGIN_LOCK_MINUTES", "30")))),
            access_token_lifetime=timedelta(minutes=int(environ.get("ACCESS_TOKEN_MINUTES", "60"))),
            refresh_token_lifetime=timedelta(days=int(environ.get("REFRESH_TOKEN_DAYS", "30")))),
        support=SupportContacts(
            phone=environ.get("SUPPORT_PHONE", "(11) 3179-6869"),
            email=environ.get("SUPPORT_EMAIL", "contato@suporte.brasoftware.com.br"),
            service_desk_url=environ.get("SUPPORT_SERVICE_DESK_URL", "https://sgbrasoftware.maxdesk.us"),
            specialists_phone=environ.get("SPECIALISTS_PHONE", "(11) 3179-6900"),
            specialists_email=environ.get("SPECIALISTS_EMAIL", "brasoftwarecloud@brasoftware.com.br"),
        ),
        privacy=PrivacyContacts(
            controller_name=environ.get("PRIVACY_CONTROLLER_NAME", beneficiary_name),
            controller_cnpj=format_cnpj(controller_cnpj) if len(controller_cnpj) == 14 else controller_cnpj,
            controller_address=environ.get("PRIVACY_CONTROLLER_ADDRESS",
                                           "Av. Paulista, 1000, Bela Vista, São Paulo - SP, 01310-100"),
            dpo_name=environ.get("PRIVACY_DPO_NAME", "Encarregado de Proteção de Dados"),
            dpo_email=environ.get("PRIVACY_DPO_EMAIL", "privacidade@brasoftware.com.br"),
            dpo_phone=environ.get("PRIVACY_DPO_PHONE", "(11) 3179-6869"),
        ),
        export_link_seconds=int(environ.get("EXPORT_LINK_SECONDS", "900")),
        fiscal_retention_years=int(environ.get("FISCAL_RETENTION_YEARS", "5")),
        dunning=_dunning_policy(environ),
    )


def _dunning_policy(environ: Mapping[str, str]) -> DunningPolicy:
    """The reseller's policy, held to the rules an operator's override is held to: a warning day
    after the suspension day would silently stop the warnings and refuse every override."""
    from .domain.dunning import validate_policy
    from .domain.errors import DomainError

    policy = DunningPolicy(
        reminder_days=tuple(int(d) for d in environ.get("DUNNING_REMINDER_DAYS", "1,7,15").split(",") if d.strip()),
        block_day=int(environ.get("DUNNING_BLOCK_DAY", "30")),
        warning_day=int(environ.get("DUNNING_WARNING_DAY", "40")),
        suspension_day=int(environ.get("DUNNING_SUSPENSION_DAY", "45")))
    try:
        return validate_policy(policy)
    except DomainError as error:
        raise ValueError(f"DUNNING_* settings: {error.message}") from error


@lru_cache(maxsize=1)
def current() -> Settings:
    """The settings of this process, read once (tests call `current.cache_clear()`)."""
    return from_environ(os.environ)
