"""The composition root: builds the repositories and adapters the use cases are handed.

`container()` is built once per process from the settings (Lambda containers reuse it). Tests
build their own `Container` with keyword overrides, or call `reset()` after changing settings.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from . import settings as settings_module
from .domain.clock import Clock, system_clock
from .settings import Settings

logger = logging.getLogger(__name__)

if TYPE_CHECKING:  # the field types only: `build` imports the implementations when it runs
    from .adapters.bank import Bank
    from .adapters.certificates import SecretsManagerCertificate
    from .adapters.documents import S3DocumentStore
    from .adapters.identity import CognitoIdentity, TokenVerifier
    from .adapters.licence_provider import LicenceProvider
    from .adapters.mail import SesMailer
    from .adapters.nfse import NfseEmitter
    from .adapters.queue import Queue
    from .storage.billing import BillingRunRepository, InvoiceRepository
    from .storage.dunning import DunningStepRepository
    from .storage.licences import CartRepository, SubscriptionRepository
    from .storage.repositories import (AuditRepository, CatalogRepository, ContractRepository, EmailDeliveries,
                                       IdempotencyStore, OrganizationRepository, UserRepository)
    from .storage.privacy import PrivacyRepository
    from .storage.sessions import LoginFailures, Sessions, UserSessions
    from .storage.support import LeadRepository, RateLimiter, SignInChallenges, TicketRepository
    from .storage.suppressions import SuppressionRepository
    from .storage.spend import SpendRepository  # spend aggregate (#21 §1)
    from .storage.suspensions import SuspensionRepository
    from .storage.approvals import ApprovalRepository
    from .adapters.webhook_http import WebhookHttp
    from .storage.webhooks import WebhookRepository


def ignore_render(document: str, seconds: float) -> None:
    """The default render observer: nobody is watching PDF rendering."""


@dataclass
class Container:
    """Every repository and adapter. A use case does not take all of it: its `deps` parameter names
    the few fields it uses (a Protocol in its service module), which this class satisfies."""

    settings: Settings
    clock: Clock
    identity: CognitoIdentity
    verifier: TokenVerifier
    mailer: SesMailer
    email_queue: Queue
    provisioning_queue: Queue
    billing_queue: Queue
    users: UserRepository
    organizations: OrganizationRepository
    contracts: ContractRepository
    audit: AuditRepository
    catalog: CatalogRepository
    idempotency: IdempotencyStore
    email_deliveries: EmailDeliveries
    subscriptions: SubscriptionRepository
    cart: CartRepository
    licence_provider: LicenceProvider
    invoices: InvoiceRepository
    billing_runs: BillingRunRepository
    dunning_steps: DunningStepRepository  # dunning steps taken per invoice (services/dunning.py)
    bank: Bank
    nfse_emitter: NfseEmitter
    # The A1 certificate that signs DPSs and events, read from Secrets Manager on first use.
    nfse_certificate: SecretsManagerCertificate
    documents: S3DocumentStore
    leads: LeadRepository
    rate_limiter: RateLimiter
    sign_in_challenges: SignInChallenges
    # Failed logins, the sessions handed out, the sessions of a user that ended (services/sessions.py).
    login_failures: LoginFailures
    sessions: Sessions
    user_sessions: UserSessions
    tickets: TicketRepository
    privacy: PrivacyRepository
    # An organisation's suspension at the licence provider and its claims (services/suspensions.py).
    suspensions: SuspensionRepository
    # Addresses SES reported as undeliverable (hard bounce, complaint): no email goes to them.
    suppressions: SuppressionRepository
    spend: SpendRepository  # spend aggregate (#21 §1)
    # Purchase approvals (issue #21 §4): the organisation's limit and the requests (services/approvals.py).
    approvals: ApprovalRepository
    # Webhooks (issue #21 §3): endpoints, outbox and deliveries; the customer's HTTP endpoint; the
    # deliveries' queue (services/webhooks.py).
    webhooks: WebhookRepository
    webhook_http: WebhookHttp
    webhooks_queue: Queue
    new_temporary_password: Callable[[], str]
    # Told after each PDF is rendered: its name ("invoice", "boleto", "nfse") and the seconds it took
    # (the bench times rendering with it; tests count documents).
    on_render: Callable[[str, float], None] = ignore_render


def build(settings: Settings, *, clock: Optional[Clock] = None, **overrides: Any) -> Container:
    from pynamodb.connection import Connection

    from .adapters.bank import SimulatedBank
    from .adapters.certificates import SecretsManagerCertificate
    from .adapters.documents import S3DocumentStore
    from .adapters.identity import CognitoIdentity, TokenVerifier, temporary_password
    from .adapters.mail import SesMailer
    from .adapters.queue import SqsQueue
    from .storage import billing as billing_repos
    from .storage import dunning as dunning_repos
    from .storage import licences as licence_repos
    from .storage import privacy as privacy_repos
    from .storage import repositories as repos
    from .storage import sessions as session_repos
    from .storage import support as support_repos
    from .storage import suppressions as suppression_repos
    from .storage import spend as spend_repos  # spend aggregate (#21 §1)
    from .storage import suspensions as suspension_repos
    from .storage import approvals as approval_repos
    from .adapters.webhook_http import WebhookHttp
    from .storage import webhooks as webhook_repos
    from .storage.models import bind_table

    bind_table(settings.table_name, settings.region)
    transaction = repos.Transaction(Connection(region=settings.region))
    simulated_nfse = settings.nfse_provider == "simulated"
    nfse_certificate = overrides.get("nfse_certificate") or SecretsManagerCertificate(
        settings.nfse_certificate_secret, settings.region, owner_cnpj=settings.nfse_registration.cnpj,
        # While the NFS-e is simulated, infra/'s placeholder secret signs with a demo certificate.
        demo_owner=(settings.beneficiary_cnpj, settings.beneficiary_name.upper()) if simulated_nfse else None,
        clock=clock or system_clock)
    parts = dict(
        settings=settings,
        clock=clock or system_clock,
        identity=CognitoIdentity(settings.user_pool_id, settings.user_pool_client_id, settings.region),
        verifier=TokenVerifier(settings.jwks_url, settings.token_issuer, settings.user_pool_client_id),
        mailer=SesMailer(settings.mail_sender, settings.region, copy_dir=settings.mail_copy_dir,
                         configuration_set=settings.mail_configuration_set, on_sent=_mail_events_simulator(settings)),
        email_queue=SqsQueue(settings.email_queue_name, settings.region),
        provisioning_queue=SqsQueue(settings.provisioning_queue_name, settings.region),
        billing_queue=SqsQueue(settings.billing_queue_name, settings.region),
        users=repos.UserRepository(transaction),
        organizations=repos.OrganizationRepository(transaction),
        contracts=repos.ContractRepository(transaction),
        audit=repos.AuditRepository(),
        catalog=repos.CatalogRepository(transaction=transaction),
        idempotency=repos.IdempotencyStore(),
        email_deliveries=repos.EmailDeliveries(transaction),  # the worker's batch claim (issue #22 §5)
        subscriptions=licence_repos.SubscriptionRepository(transaction),
        cart=licence_repos.CartRepository(),
        licence_provider=_licence_provider(settings),
        invoices=billing_repos.InvoiceRepository(transaction),
        billing_runs=billing_repos.BillingRunRepository(),
        dunning_steps=dunning_repos.DunningStepRepository(transaction),
        bank=_bank(settings, SimulatedBank),
        nfse_emitter=(overrides["nfse_emitter"] if "nfse_emitter" in overrides
                      else _nfse_emitter(settings, nfse_certificate)),
        nfse_certificate=nfse_certificate,
        leads=support_repos.LeadRepository(),
        rate_limiter=support_repos.RateLimiter(),
        sign_in_challenges=support_repos.SignInChallenges(),
        login_failures=session_repos.LoginFailures(),
        sessions=session_repos.Sessions(),
        user_sessions=session_repos.UserSessions(transaction),
        tickets=support_repos.TicketRepository(transaction),
        privacy=privacy_repos.PrivacyRepository(transaction),
        suspensions=suspension_repos.SuspensionRepository(transaction),
        suppressions=suppression_repos.SuppressionRepository(transaction),
        spend=spend_repos.SpendRepository(transaction),  # spend aggregate (#21 §1)
        approvals=approval_repos.ApprovalRepository(transaction),
        # webhooks (issue #21 §3)
        webhooks=webhook_repos.WebhookRepository(transaction),
        webhook_http=WebhookHttp(timeout_seconds=10.0),
        webhooks_queue=SqsQueue(settings.webhooks_queue_name, settings.region),
        documents=S3DocumentStore(settings.documents_bucket, settings.region, settings.document_link_seconds),
        new_temporary_password=temporary_password,
    )
    parts.update(overrides)
    return Container(**parts)


def _mail_events_simulator(settings: Settings):
    """SES's events for the embedded AWS (MAIL_EVENTS_SIMULATED): on AWS, SES publishes them itself."""
    if not settings.mail_events_simulated:
        return None
    from .adapters.mail_events import SimulatedSesEvents

    if settings.stage == "prod":
        logger.warning("MAIL_EVENTS_SIMULATED in the prod stage: SES publishes bounces and complaints itself; the "
                       "simulator would publish made-up ones for its test addresses. Unset it.")
    return SimulatedSesEvents(settings.mail_events_topic, settings.region, source=settings.mail_sender)


def _bank(settings: Settings, simulator):
    """The simulator, or Banco do Brasil's API Cobranças v2 with the credentials in Secrets Manager
    (README, "Parceiros reais"); read on the first boleto, not at start."""
    if settings.bank_provider == "simulated":
        if settings.stage == "prod":
            # Allowed (a prod stack may be a pilot before the reseller has the bank's credentials),
            # but never quietly: its boletos are registered nowhere and nobody can pay them.
            logger.warning("BANK_PROVIDER=simulated in the prod stage: the boletos are the simulator's, registered "
                           "at no bank: NOBODY CAN PAY THEM. Set BANK_PROVIDER=real with the bank's credentials in "
                           "%s (README, \"Parceiros reais: do simulador ao real\").",
                           settings.bank_api.credentials_secret)
        # As a bank does, the Pix names the recebedor: the payer's app shows the reseller, not a bank.
        return simulator(merchant_name=settings.beneficiary_name, merchant_city=settings.pix_city)
    if settings.bank_provider != "real":  # settings refuse it first; a hand-made Settings may not
        raise RuntimeError(f"unknown bank provider {settings.bank_provider!r}")
    if settings.boleto_bank != "bb":
        raise RuntimeError(f"BANK_PROVIDER=real with BOLETO_BANK={settings.boleto_bank!r}: only Banco do Brasil's "
                           "API Cobranças is wired (BOLETO_BANK=bb)")
    from .adapters.bb_cobranca import BancoDoBrasilCobranca
    from .adapters.secrets import JsonSecret

    credentials = JsonSecret(settings.bank_api.credentials_secret, settings.region,
                             ("client_id", "client_secret", "developer_application_key", "webhook_token"))
    return BancoDoBrasilCobranca(settings.bank_api, credentials, convenio=settings.boleto_bb_convenio,
                                 carteira=settings.boleto_bb_carteira)


def _nfse_emitter(settings: Settings, certificate: "SecretsManagerCertificate"):
    """The simulator, or the Sefin Nacional's API (README, "NFS-e: do simulador para a emissão real").
    The real adapter is imported here only: with it come the HTTP client and, on the first note, the
    fiscal libraries, which a container that never emits should not load. It is handed the
    certificate's reader, not the certificate: the secret is read on the first note, not at start."""
    if settings.nfse_provider == "sefin":
        from .adapters.sefin_nacional import SefinNacionalEmitter

        return SefinNacionalEmitter(settings.nfse_api_url, certificate.certificate,
                                    timeout_seconds=settings.nfse_timeout_seconds, ca_bundle=settings.nfse_ca_bundle)
    if settings.nfse_provider != "simulated":  # settings refuse it first; a hand-made Settings may not
        raise RuntimeError(f"unknown NFS-e emitter {settings.nfse_provider!r}")
    from .adapters.nfse import SimulatedNfseEmitter

    if settings.stage == "prod":
        # Allowed (a prod stack may be a pilot before the reseller has its A1), but never quietly:
        # its notes have no fiscal value.
        logger.warning("NFSE_PROVIDER=simulated in the prod stage: the NFS-e are the simulator's, SEM VALOR "
                       "FISCAL. Set NFSE_PROVIDER=sefin with the A1 certificate in %s (README, \"NFS-e: do "
                       "simulador para a emissão real\").", settings.nfse_certificate_secret)
    return SimulatedNfseEmitter()


def _licence_provider(settings: Settings):
    """The simulator, or Partner Center with the secure application model's credentials in Secrets
    Manager (README, "Parceiros reais"); read on the first call, not at start."""
    if settings.licence_provider == "real":
        from .adapters.partner_center import PartnerCenter
        from .adapters.secrets import JsonSecret

        credentials = JsonSecret(settings.partner_center.credentials_secret, settings.region,
                                 ("tenant_id", "app_id", "app_secret", "refresh_token"))
        return PartnerCenter(settings.partner_center, credentials)
    if settings.licence_provider != "simulated":  # settings refuse it first; a hand-made Settings may not
        raise RuntimeError(f"unknown licence provider {settings.licence_provider!r}")
    from .adapters.licence_provider import SimulatedLicenseProvider

    if settings.stage == "prod":
        # Allowed (a pilot), but never quietly: customers would be billed for licences never bought.
        logger.warning("LICENCE_PROVIDER=simulated in the prod stage: the licences are the simulator's, NOT BOUGHT "
                       "AT MICROSOFT, and customers are billed for them. Set LICENCE_PROVIDER=real with Partner "
                       "Center's credentials in %s (README, \"Parceiros reais: do simulador ao real\").",
                       settings.partner_center.credentials_secret)
    return SimulatedLicenseProvider(failure_rate=settings.simulated_provider_failure_rate,
                                    delay_seconds=settings.simulated_provider_delay_seconds)


_container: Optional[Container] = None
_lock = threading.Lock()


def container() -> Container:
    global _container
    with _lock:
        if _container is None:
            _container = build(settings_module.current())
        return _container


def use(new: Optional[Container]) -> None:
    """Install a container (tests), or forget it so the next call rebuilds from the environment."""
    global _container
    with _lock:
        _container = new


def reset() -> None:
    settings_module.current.cache_clear()
    from .adapters.aws import reset_clients

    reset_clients()
    use(None)
