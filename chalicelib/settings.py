"""Every setting of csp-portal, read from the environment in one place.

The Lambda gets these from `.chalice/config.json` (per stage) and the CloudFormation in `infra/`;
`make run` and the tests set them for the embedded moto server. Nothing else reads `os.environ`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
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
class BankApi:
    """The bank's cobrança API (BANK_PROVIDER=real): Banco do Brasil's API Cobranças v2. The
    credentials are not settings: they live in Secrets Manager (`credentials_secret`, JSON
    {"client_id", "client_secret", "developer_application_key", "webhook_token"}), README "Parceiros reais"."""

    api_url: str  # BANK_API_URL, the API's base (…/cobrancas/v2)
    oauth_url: str  # BANK_OAUTH_URL, the OAuth2 token endpoint (client credentials)
    credentials_secret: str  # BANK_CREDENTIALS_SECRET
    timeout_seconds: float  # BANK_TIMEOUT_SECONDS: one answer's wait (the second copy waits inside API Gateway's 29 s)
    ca_bundle: Optional[str]  # BANK_CA_BUNDLE: a PEM file of CAs to trust (a fake's); None: the system's
    bb_variacao_carteira: str  # BOLETO_BB_VARIACAO: numeroVariacaoCarteira of the convênio
    # How many days after the due date the bank still accepts the boleto (numeroDiasLimiteRecebimento),
    # with the fine and interest it was registered with; after that, a second copy.
    payable_days_after_due: int  # BOLETO_PAYABLE_DAYS_AFTER_DUE


@dataclass(frozen=True)
class PartnerCenterApi:
    """Microsoft Partner Center (LICENCE_PROVIDER=real), the secure application model: the app's
    credentials and a partner admin's refresh token live in Secrets Manager (`credentials_secret`,
    JSON {"tenant_id", "app_id", "app_secret", "refresh_token"}), README "Parceiros reais"."""

    api_url: str  # PARTNER_CENTER_API_URL
    authority_host: str  # PARTNER_CENTER_AUTHORITY_HOST: Microsoft Entra ID's login host
    credentials_secret: str  # PARTNER_CENTER_CREDENTIALS_SECRET
    timeout_seconds: float  # PARTNER_CENTER_TIMEOUT_SECONDS
    ca_bundle: Optional[str]  # PARTNER_CENTER_CA_BUNDLE: a PEM file of CAs to trust (a fake's); None: the system's
    country: str  # PARTNER_CENTER_COUNTRY: the customers' and offers' market (BR)


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
    # The SES configuration set every email is sent with (MAIL_CONFIGURATION_SET): it publishes the
    # bounce, complaint and delivery events to the SNS topic MAIL_EVENTS_TOPIC, whose handler stops
    # sends to bounced addresses. Empty: send without one (the embedded AWS of `make run` and tests
    # creates its own).
    mail_configuration_set: Optional[str]
    mail_events_topic: str
    max_body_bytes: int
    # Seat bounds and Microsoft's cancellation window (MAX_QUANTITY, CANCELLATION_WINDOW_DAYS).
    quantity_limits: QuantityLimits
    provisioning_max_attempts: int
    provisioning_backoff_seconds: int
    # "simulated" (adapters/licence_provider.SimulatedLicenseProvider) or "real" (Partner Center, `partner_center`).
    licence_provider: str
    simulated_provider_failure_rate: float
    simulated_provider_delay_seconds: float
    # "simulated" (adapters/bank.SimulatedBank) or "real" (the bank's API, `bank_api`).
    bank_provider: str
    # "simulated" (SimulatedNfseEmitter: notes "sem valor fiscal") or "sefin" (the Sefin Nacional's
    # API, adapters/sefin_nacional.py, signing with the A1 in NFSE_CERTIFICATE_SECRET); "real" means "sefin".
    nfse_provider: str
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
    # The reseller's address as the boleto prints it (BENEFICIARY_ADDRESS, one line).
    beneficiary_address: str
    pix_key: Optional[str]
    pix_city: str
    # Built from DEPOSIT_BANK/AGENCY/ACCOUNT and the beneficiary's name, CNPJ and Pix key above.
    deposit_account: DepositAccount
    # The national NFS-e (README, "NFS-e"): where DPSs go, the certificate that signs them, the
    # reseller's fiscal registration and the service's terms as data.
    nfse_environment: str  # tpAmb: "1" produção, "2" produção restrita (the Sefin's test environment)
    nfse_api_url: str  # the Sefin Nacional's base URL; NFSE_API_URL overrides the environment's
    nfse_certificate_secret: str  # Secrets Manager id of the A1 certificate (adapters/certificates.py)
    nfse_registration: ProviderRegistration
    nfse_terms: ServiceTerms
    # The CA bundle the Sefin adapter trusts (NFSE_CA_BUNDLE, a file path; None: certifi's or botocore's), and
    # how long it waits for one answer (NFSE_TIMEOUT_SECONDS).
    nfse_ca_bundle: Optional[str]
    nfse_timeout_seconds: float
    # serie of every DPS (NFSE_DPS_SERIES, 1 to 5 digits): a reseller whose old system used series 1
    # for the same CNPJ starts another, so the portal's DPS ids never meet the old ones.
    nfse_dps_series: str
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
    bank_api: BankApi = field(default_factory=lambda: _bank_api({}, "simulated"))
    partner_center: PartnerCenterApi = field(default_factory=lambda: _partner_center({}, "simulated"))
    # The embedded AWS publishes no SES events: with MAIL_EVENTS_SIMULATED=true (local/run.py sets it
    # for `make run` and the tests), adapters/mail_events.SimulatedSesEvents publishes, after each send,
    # the event SES's mailbox simulator would (README, "E-mails devolvidos"). Never on AWS: SES does it.
    mail_events_simulated: bool = False
    # ERP exports (issue #21 §2): a CSV up to this size is answered in the body of an `Accept: text/csv`
    # request; a larger one is written to S3 and answered 303 with a short-lived link (EXPORT_INLINE_MAX_BYTES).
    export_inline_max_bytes: int = 1_048_576
    # Webhooks (issue #21 §3): the deliveries' queue; http://localhost|127.0.0.1|[::1] endpoints
    # allowed (WEBHOOKS_ALLOW_LOOPBACK=true: the local stack and the tests only; never in prod).
    webhooks_queue_name: str = "csp-portal-webhooks"
    webhooks_allow_loopback: bool = False
    # The email worker's pace (issue #22 §5): SES's maximum send rate for the account in this region
    # (SES_MAX_SEND_RATE, recipients per second: SES counts each recipient). SES publishes no fixed
    # production rate today (docs.aws.amazon.com/ses/latest/dg/quotas.html: 1/s in the sandbox, out of
    # it "varies based on your specific use case"); 14/s was its starting production rate for years,
    # sa-east-1 included. Set it to `aws sesv2 get-account` → SendQuota.MaxSendRate, and again when
    # AWS raises it. The worker's concurrent invocations share it (jobs/email.py).
    ses_max_send_rate: float = 14.0

    @property
    def token_issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


def from_environ(environ: Mapping[str, str]) -> Settings:
    """Build Settings from an environment mapping (os.environ in production)."""
    stage = environ.get("CSP_STAGE", "dev")
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "sa-east-1"
    user_pool_id = environ.get("USER_POOL_ID", "")
    beneficiary_name = environ.get("BENEFICIARY_NAME", "Brasoftware Informática Ltda")
    beneficiary_cnpj = _beneficiary_cnpj(environ.get("BENEFICIARY_CNPJ", "45997418000153"))
    pix_key = environ.get("PIX_KEY", "financeiro@brasoftware.com.br") or None
    beneficiary_address = environ.get("BENEFICIARY_ADDRESS",
                                      "Av. Paulista, 1000, Bela Vista, São Paulo - SP, CEP 01310-100").strip()
    bank_provider = _provider(environ, "BANK_PROVIDER", "the bank's cobrança API")
    licence_provider = _provider(environ, "LICENCE_PROVIDER", "Microsoft Partner Center")
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
        mail_configuration_set=environ.get("MAIL_CONFIGURATION_SET") or None,
        mail_events_topic=environ.get("MAIL_EVENTS_TOPIC", "csp-portal-mail-events"),
        mail_events_simulated=environ.get("MAIL_EVENTS_SIMULATED", "").strip().lower() in ("1", "true", "yes"),
        max_body_bytes=int(environ.get("MAX_BODY_BYTES", "65536")),
        quantity_limits=QuantityLimits(
            maximum=int(environ.get("MAX_QUANTITY", "10000")),
            cancellation_window=timedelta(days=int(environ.get("CANCELLATION_WINDOW_DAYS", "7")))),
        provisioning_max_attempts=int(environ.get("PROVISIONING_MAX_ATTEMPTS", "5")),
        provisioning_backoff_seconds=int(environ.get("PROVISIONING_BACKOFF_SECONDS", "30")),
        licence_provider=licence_provider,
        simulated_provider_failure_rate=float(environ.get("SIMULATED_PROVIDER_FAILURE_RATE", "0")),
        simulated_provider_delay_seconds=float(environ.get("SIMULATED_PROVIDER_DELAY_SECONDS", "0")),
        bank_provider=bank_provider,
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
        beneficiary_address=beneficiary_address,
        pix_key=pix_key,
        pix_city=environ.get("PIX_CITY", "Sao Paulo"),
        deposit_account=DepositAccount(
            bank=environ.get("DEPOSIT_BANK", "Banco do Brasil (001)"),
            agency=environ.get("DEPOSIT_AGENCY", "3064-7"),
            account=environ.get("DEPOSIT_ACCOUNT", "12345-6"),
            beneficiary=beneficiary_name,
            cnpj=format_cnpj(beneficiary_cnpj) if len(beneficiary_cnpj) == 14 else beneficiary_cnpj,
            pix_key=pix_key),
        **_nfse_settings(environ, stage, beneficiary_cnpj, beneficiary_name),
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
            controller_address=environ.get("PRIVACY_CONTROLLER_ADDRESS", beneficiary_address),
            dpo_name=environ.get("PRIVACY_DPO_NAME", "Encarregado de Proteção de Dados"),
            dpo_email=environ.get("PRIVACY_DPO_EMAIL", "privacidade@brasoftware.com.br"),
            dpo_phone=environ.get("PRIVACY_DPO_PHONE", "(11) 3179-6869"),
        ),
        export_link_seconds=int(environ.get("EXPORT_LINK_SECONDS", "900")),
        fiscal_retention_years=int(environ.get("FISCAL_RETENTION_YEARS", "5")),
        dunning=_dunning_policy(environ),
        bank_api=_bank_api(environ, bank_provider),
        partner_center=_partner_center(environ, licence_provider),
        export_inline_max_bytes=int(environ.get("EXPORT_INLINE_MAX_BYTES", str(1_048_576))),
        # webhooks (issue #21 §3)
        webhooks_queue_name=environ.get("WEBHOOKS_QUEUE_NAME", "csp-portal-webhooks"),
        webhooks_allow_loopback=_webhooks_allow_loopback(environ, stage),
        ses_max_send_rate=_send_rate(environ.get("SES_MAX_SEND_RATE", "14")),  # issue #22 §5
    )


def _send_rate(value: str) -> float:
    """SES_MAX_SEND_RATE: a positive number of emails (recipients) a second, as SES states its quota."""
    try:
        rate = float(value)
    except ValueError:
        rate = 0.0
    if not rate > 0 or rate == float("inf"):
        raise ValueError(f"SES_MAX_SEND_RATE={value!r}: must be a positive number of emails a second "
                         "(the account's SES maximum send rate, e.g. 14)")
    return rate


def _webhooks_allow_loopback(environ: Mapping[str, str], stage: str) -> bool:
    allowed = environ.get("WEBHOOKS_ALLOW_LOOPBACK", "").strip().lower() in ("1", "true", "yes")
    if allowed and stage == "prod":
        raise ValueError("WEBHOOKS_ALLOW_LOOPBACK is for the local stack and the tests: never in the prod stage")
    return allowed


PROVIDERS = ("simulated", "real")


def _provider(environ: Mapping[str, str], variable: str, meaning: str) -> str:
    value = environ.get(variable, "simulated").strip()
    if value not in PROVIDERS:
        raise ValueError(f"{variable}={value!r}: must be one of {', '.join(PROVIDERS)} ({meaning})")
    return value


def _seconds(environ: Mapping[str, str], variable: str, default: str, cap: float) -> float:
    try:
        value = float(environ.get(variable, default))
    except ValueError:
        value = 0.0
    if not 0 < value <= cap:
        raise ValueError(f"{variable}={environ.get(variable)!r}: must be a number of seconds above 0 and at most "
                         f"{cap:g} (API Gateway answers 504 at 29 s)")
    return value


def _ca_bundle(environ: Mapping[str, str], variable: str) -> Optional[str]:
    path = environ.get(variable, "").strip() or None
    if path is not None and not os.path.isfile(path):
        raise ValueError(f"{variable}={path!r}: no such file (a PEM bundle of the CAs to trust)")
    return path


def _bank_api(environ: Mapping[str, str], provider: str) -> BankApi:
    """Banco do Brasil's API Cobranças v2 (production URLs by default; BANK_API_URL and
    BANK_OAUTH_URL point at its homologação, or at a fake on this machine)."""
    api_url = environ.get("BANK_API_URL", "https://api.bb.com.br/cobrancas/v2").strip().rstrip("/")
    oauth_url = environ.get("BANK_OAUTH_URL", "https://oauth.bb.com.br/oauth/token").strip()
    for variable, url in (("BANK_API_URL", api_url), ("BANK_OAUTH_URL", oauth_url)):
        _check_url(variable, url)
    secret = environ.get("BANK_CREDENTIALS_SECRET", "csp-portal/bank-credentials").strip()
    if provider == "real" and not secret:
        raise ValueError("BANK_CREDENTIALS_SECRET is empty: the Secrets Manager secret with the bank's API credentials")
    variation = environ.get("BOLETO_BB_VARIACAO", "35").strip()
    if not re.fullmatch(r"[0-9]{1,3}", variation):
        raise ValueError(f"BOLETO_BB_VARIACAO={variation!r}: 1 to 3 digits (the convênio's variação de carteira)")
    days = environ.get("BOLETO_PAYABLE_DAYS_AFTER_DUE", "30").strip()
    if not re.fullmatch(r"[0-9]{1,3}", days):
        raise ValueError(f"BOLETO_PAYABLE_DAYS_AFTER_DUE={days!r}: whole days (0 to 999) the bank accepts the "
                         "boleto after its due date")
    return BankApi(api_url=api_url, oauth_url=oauth_url, credentials_secret=secret,
                   timeout_seconds=_seconds(environ, "BANK_TIMEOUT_SECONDS", "8", 25),
                   ca_bundle=_ca_bundle(environ, "BANK_CA_BUNDLE"), bb_variacao_carteira=variation,
                   payable_days_after_due=int(days))


def _partner_center(environ: Mapping[str, str], provider: str) -> PartnerCenterApi:
    api_url = environ.get("PARTNER_CENTER_API_URL", "https://api.partnercenter.microsoft.com").strip().rstrip("/")
    authority = environ.get("PARTNER_CENTER_AUTHORITY_HOST", "https://login.microsoftonline.com").strip().rstrip("/")
    _check_url("PARTNER_CENTER_API_URL", api_url)
    if not authority.startswith("https://"):
        raise ValueError(f"PARTNER_CENTER_AUTHORITY_HOST={authority!r}: must be an https URL (MSAL speaks https only)")
    secret = environ.get("PARTNER_CENTER_CREDENTIALS_SECRET", "csp-portal/partner-center").strip()
    if provider == "real" and not secret:
        raise ValueError("PARTNER_CENTER_CREDENTIALS_SECRET is empty: the Secrets Manager secret with the Partner "
                         "Center app's credentials")
    country = environ.get("PARTNER_CENTER_COUNTRY", "BR").strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ValueError(f"PARTNER_CENTER_COUNTRY={country!r}: an ISO 3166 two-letter code")
    return PartnerCenterApi(api_url=api_url, authority_host=authority, credentials_secret=secret,
                            timeout_seconds=_seconds(environ, "PARTNER_CENTER_TIMEOUT_SECONDS", "10", 25),
                            ca_bundle=_ca_bundle(environ, "PARTNER_CENTER_CA_BUNDLE"), country=country)


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


NFSE_PROVIDERS = ("simulated", "sefin", "real")  # "real" is "sefin", as for the other partners
# Hosts a plain-http NFSE_API_URL may name: a fake Sefin on this machine (tests, the local stack).
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# ISS: LC 116/2003 art. 8º caps the rate at 5 %. Its 2 % floor (art. 8º-A) binds the municipality's
# law, not a note: a Simples Nacional company or a benefit may declare less, down to 0 (isento).
ISS_RATE_CAP = Decimal("0.05")
NFSE_TIMEOUT_CAP_SECONDS = 25


def _nfse_settings(environ: Mapping[str, str], stage: str, cnpj: str, name: str) -> dict:
    """The NFS-e's settings, checked when the process starts: a wrong one stops it with the variable
    named, rather than every DPS being refused by the Sefin (or, worse, accepted with a wrong code
    or rate) at the next billing run. The rules are the national layout's (v1.01 XSD types)."""
    def read(variable: str, default: str) -> str:
        return environ.get(variable, default).strip()

    def one_of(variable: str, default: str, allowed: Tuple[str, ...], meaning: str) -> str:
        value = read(variable, default)
        if value not in allowed:
            raise ValueError(f"{variable}={value!r}: must be one of {', '.join(allowed)} ({meaning})")
        return value

    def digits(variable: str, default: str, count: int, meaning: str, *, optional: bool = False) -> Optional[str]:
        value = read(variable, default)
        if optional and not value:
            return None
        if not re.fullmatch(rf"[0-9]{{{count}}}", value):
            raise ValueError(f"{variable}={value!r}: must be {count} digits ({meaning})")
        return value

    provider = one_of("NFSE_PROVIDER", "simulated", NFSE_PROVIDERS, "the NFS-e emitter")
    provider = "sefin" if provider == "real" else provider
    environment = one_of("NFSE_ENVIRONMENT", nfse_rules.RESTRICTED_PRODUCTION,
                         (nfse_rules.PRODUCTION, nfse_rules.RESTRICTED_PRODUCTION),
                         "tpAmb: 1 produção, 2 produção restrita")
    if provider == "sefin" and environment == nfse_rules.PRODUCTION and stage != "prod":
        # A note in produção has fiscal value: only the production stack may emit one.
        raise ValueError(f"NFSE_ENVIRONMENT=1 (produção) with CSP_STAGE={stage!r}: only the prod stage emits "
                         "notes with fiscal value; use NFSE_ENVIRONMENT=2 (produção restrita) elsewhere")
    service_code = digits("NFSE_SERVICE_CODE", "010501", 6, "cTribNac: item, subitem and desdobro of LC 116")
    description = environ.get("NFSE_SERVICE_DESCRIPTION",
                              "Licenciamento de uso de programas de computação (Microsoft CSP)")
    if not description.strip():
        raise ValueError("NFSE_SERVICE_DESCRIPTION is empty (xDescServ: what the note says was provided)")
    # Empty: the note carries no rate and the Sefin applies the municipality's own (parametrização
    # municipal), as it requires in some municipalities.
    iss_rate = _iss_rate(read("ISS_RATE", "0.029")) if read("ISS_RATE", "0.029") else None
    api_url = read("NFSE_API_URL", "") or SEFIN_NACIONAL_URLS[environment]
    _check_api_url(api_url)
    ca_bundle = read("NFSE_CA_BUNDLE", "") or None
    if ca_bundle is not None and not os.path.isfile(ca_bundle):
        raise ValueError(f"NFSE_CA_BUNDLE={ca_bundle!r}: no such file (a PEM bundle of the CAs the Sefin's "
                         "server certificate is checked against)")
    # The API's routes that emit or cancel (cancellation, re-emission) wait for the Sefin inside API
    # Gateway's 29 s: a few attempts of 8 s fit, one of a minute would not.
    try:
        timeout = float(read("NFSE_TIMEOUT_SECONDS", "8"))
    except ValueError:
        timeout = 0.0
    dps_series = read("NFSE_DPS_SERIES", nfse_rules.DPS_SERIES)
    if not re.fullmatch(r"[0-9]{1,5}", dps_series):
        raise ValueError(f"NFSE_DPS_SERIES={dps_series!r}: must be 1 to 5 digits (serie: the DPS's series, part "
                         "of its id)")
    if not 0 < timeout <= NFSE_TIMEOUT_CAP_SECONDS:
        raise ValueError(f"NFSE_TIMEOUT_SECONDS={environ.get('NFSE_TIMEOUT_SECONDS')!r}: must be a number of "
                         f"seconds above 0 and at most {NFSE_TIMEOUT_CAP_SECONDS} (API Gateway answers 504 at 29 s)")
    return dict(
        nfse_provider=provider,
        nfse_environment=environment,
        nfse_api_url=api_url,
        nfse_certificate_secret=read("NFSE_CERTIFICATE_SECRET", "csp-portal/nfse-certificate"),
        nfse_registration=nfse_rules.ProviderRegistration(
            cnpj=cnpj, name=name,
            municipal_registration=_municipal_registration(environ, provider),
            city_code=digits("NFSE_CITY_CODE", "3550308", 7,  # São Paulo
                             "IBGE code of the municipality where the reseller is established"),
            simples_nacional=one_of("NFSE_SIMPLES_NACIONAL", "1", ("1", "2", "3"),
                                    "opSimpNac: 1 não optante, 2 MEI, 3 ME/EPP"),
            special_regime=one_of("NFSE_SPECIAL_REGIME", "0", ("0", "1", "2", "3", "4", "5", "6", "9"),
                                  "regEspTrib: 0 nenhum, per the national layout")),
        nfse_terms=nfse_rules.ServiceTerms(
            national_code=service_code,
            nbs_code=digits("NFSE_NBS_CODE", "", 9, "cNBS, the service's NBS code", optional=True),
            description=description,
            municipal_code=digits("NFSE_MUNICIPAL_SERVICE_CODE", "", 3, "cTribMun, the municipality's own "
                                  "service code", optional=True),
            iss_taxation=one_of("NFSE_ISS_TAXATION", "1", ("1", "2", "3", "4"),
                                "tribISSQN: 1 operação tributável, 2 imunidade, 3 exportação, 4 não incidência"),
            iss_withholding=one_of("NFSE_ISS_WITHHOLDING", "1", ("1", "2", "3"),
                                   "tpRetISSQN: 1 não retido, 2 retido pelo tomador, 3 retido pelo intermediário"),
            iss_rate=iss_rate,
            total_taxes_indicator=one_of("NFSE_TOTAL_TAXES_INDICATOR", "0", ("0",),
                                         "indTotTrib: 0, the approximate taxes are not declared")),
        nfse_ca_bundle=ca_bundle,
        nfse_timeout_seconds=timeout,
        nfse_dps_series=dps_series,
    )


def _beneficiary_cnpj(value: str) -> str:
    """The reseller's CNPJ: on every boleto, in every DPS (its id, the prestador) and checked against
    the A1 certificate's. 14 digits with valid check digits, so a punctuated or mistyped value stops
    the start instead of every emission."""
    if not re.fullmatch(r"[0-9]{14}", value):
        raise ValueError(f"BENEFICIARY_CNPJ={value!r}: 14 digits, no punctuation (the NFS-e layout 1.01 "
                         "takes numeric CNPJs only)")
    from .domain.errors import DomainError
    from .domain.organizations import normalize_cnpj

    try:
        return normalize_cnpj(value)
    except DomainError:
        raise ValueError(f"BENEFICIARY_CNPJ={value!r}: the check digits do not match") from None


def _municipal_registration(environ: Mapping[str, str], provider: str) -> Optional[str]:
    """The reseller's inscrição municipal (IM). The simulator has a demo one; the real emitter gets
    only what the reseller set (empty: none, where the municipality does not ask for it), never
    the demo's, which would go into every real DPS if forgotten."""
    if provider == "simulated":
        return environ.get("NFSE_MUNICIPAL_REGISTRATION", "12345678").strip() or None
    if "NFSE_MUNICIPAL_REGISTRATION" not in environ:
        raise ValueError("NFSE_MUNICIPAL_REGISTRATION is not set: the reseller's inscrição municipal (IM), or an "
                         "empty value where the municipality does not require it in the DPS")
    value = environ["NFSE_MUNICIPAL_REGISTRATION"].strip()
    if value and not re.fullmatch(r"[0-9A-Za-z]{1,15}", value):
        raise ValueError(f"NFSE_MUNICIPAL_REGISTRATION={value!r}: up to 15 letters or digits (IM)")
    return value or None


def _iss_rate(value: str) -> str:
    """ISS_RATE as a decimal fraction in [0, 0.05] that the note can carry: pAliq is a percentage
    with two decimals (2.90), so the fraction has at most four (0.0290)."""
    try:
        rate = Decimal(value)
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite() or not 0 <= rate <= ISS_RATE_CAP:
        raise ValueError(f"ISS_RATE={value!r}: must be a decimal fraction from 0 to 0.05 (5 %, the legal cap), "
                         "e.g. 0.029 for 2,9 %")
    if rate.as_tuple().exponent < -4:
        raise ValueError(f"ISS_RATE={value!r}: at most 4 decimal places (the note carries the rate as a "
                         "percentage with 2: 0.0295 is 2,95 %)")
    return value


def _check_api_url(url: str) -> None:
    """NFSE_API_URL speaks https (mutual TLS with the A1); plain http only to a fake on this machine."""
    _check_url("NFSE_API_URL", url)


def _check_url(variable: str, url: str) -> None:
    """A partner's URL speaks https; plain http only to a fake on this machine."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "https" and parts.netloc:
        return
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return
    raise ValueError(f"{variable}={url!r}: must be an https URL (http only for localhost)")


@lru_cache(maxsize=1)
def current() -> Settings:
    """The settings of this process, read once (tests call `current.cache_clear()`)."""
    return from_environ(os.environ)
