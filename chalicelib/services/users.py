"""Portal users: who am I, and the Master's management of the organisation's users."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Protocol, Tuple

from ..domain import error_codes as codes
from ..domain import users as user_rules
from ..domain.clock import iso
from ..domain.errors import DomainError
from ..domain.ids import new_id
from ..domain.roles import Capability, Role, capabilities_of
from ..domain.users import User
from ..schemas import array, closed, component, date_time, enum, integer, nullable, shape, text
from . import audit, mfa, notifications
from .addresses import ADDRESS, address_view
from .caller import Caller
from .mfa import MFA_STATUS
from .subscriptions import LIMITS

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.identity import CognitoIdentity
    from ..settings import Settings
    from ..storage.repositories import AuditRepository, ContractRepository, OrganizationRepository, UserRepository
    from .audit import Clocked
    from .notifications import QueuesEmails

    class UserDirectoryDeps(Protocol):
        """The organisation's users, as read."""

        users: UserRepository
        organizations: OrganizationRepository

    class UserAdminDeps(UserDirectoryDeps, Clocked, Protocol):
        """The Master's changes to a user: roles, removal (the sign-in too), each audited."""

        identity: CognitoIdentity

    class WelcomeEmailDeps(QueuesEmails, Protocol):
        """The welcome email (the settings give the portal's addresses)."""

        settings: Settings

    class InviteDeps(UserAdminDeps, WelcomeEmailDeps, Protocol):
        """A new user: an identity with a temporary password, the record, the welcome email with the
        contract's items; an email another organisation holds goes to the operators (their trail
        and their address) instead."""

        contracts: ContractRepository
        new_temporary_password: Callable[[], str]
        audit: AuditRepository


ROLE_LABELS = {
    Role.MASTER: "Master",
    Role.ADM: "Adm",
    Role.COBRANCA: "Cobrança",
    Role.SUPORTE: "Suporte",
    Role.OPERATOR: "Operador",
}


_ROLES = array(enum([r.value for r in Role]))

# (`component(…, closed(…))`: a property is called "name", which `shape` takes as its own.)
USER = component("User", closed({
    "id": text(), "email": text(format="email"), "name": text(), "organization_id": text(), "roles": _ROLES,
    "status": enum(user_rules.STATUSES), "created_at": date_time(), "version": integer(minimum=1),
    "mfa_enrolled_at": nullable(date_time()),
}, description="Um usuário do portal (`mfa_enrolled_at`: desde quando usa a verificação em duas etapas; "
               "nulo: não cadastrada)."))


def user_view(user: User) -> Dict[str, Any]:
    return {
        "id": user.id, "email": user.email, "name": user.name, "organization_id": user.organization_id,
        "roles": sorted(r.value for r in user.roles), "status": user.status,
        "created_at": user.created_at, "version": user.version, "mfa_enrolled_at": user.mfa_enrolled_at,
    }


ME_ORGANIZATION = component("MeOrganization", closed(
    {"id": text(), "name": text(), "cnpj": nullable(text()), "address": nullable(ADDRESS)},
    description="A organização em que o usuário age (`cnpj` nulo: a própria revenda; `address` nulo: endereço "
                "ainda não informado)."))

# What `GET /me` answers: this view, with the seat rules the portal applies as the user types
# (`limits`, `subscriptions.limits_view`: `api/users.py` adds them).
ME = shape("Me", description="O usuário autenticado, sua organização, perfis e permissões.",
           user=USER, organization=ME_ORGANIZATION, roles=_ROLES,
           capabilities=array(enum([c.value for c in Capability])), limits=LIMITS, mfa=MFA_STATUS)


def me(deps: UserDirectoryDeps, caller: Caller) -> Dict[str, Any]:
    organization = deps.organizations.get(caller.organization_id)
    return {
        "user": user_view(caller.user),
        "organization": {"id": organization.id, "name": organization.name, "cnpj": organization.cnpj,
                         "address": address_view(organization.address)},
        "roles": sorted(r.value for r in caller.roles),
        "capabilities": sorted(c.value for c in capabilities_of(caller.roles)),
        "mfa": mfa.status_view(caller.user),
    }


def list_users(deps: UserDirectoryDeps, caller: Caller, *, limit: int,
               next_token: Optional[str]) -> Tuple[List[User], Optional[str]]:
    return deps.users.list(caller.organization_id, limit=limit, next_token=next_token)


def get_user(deps: UserDirectoryDeps, caller: Caller, user_id: str) -> User:
    return deps.users.get_in_organization(caller.organization_id, user_id)


def invite_user(deps: InviteDeps, caller: Caller, *, email: str, name: str, roles: Iterable[str]) -> User:
    """Create the identity, the user and its audit entry, then queue the welcome email."""
    organization_id = caller.organization_id
    email = user_rules.normalize_email(email)
    granted = user_rules.validate_roles(roles, organization_id)
    organization = deps.organizations.get(organization_id)
    contract_items = _contract_items(deps, organization_id)  # before anything is created
    password = deps.new_temporary_password()
    try:
        user_id = deps.identity.create_user(email, name, password)
    except DomainError as taken:
        if taken.code != "email_in_use" or deps.users.in_organization_by_email(organization_id, email):
            raise  # the caller's own users are theirs to see: 409
        return _hand_conflict_to_operators(deps, caller, email=email, name=name.strip(), roles=granted)
    user = User(id=user_id, organization_id=organization_id, email=email, name=name.strip(),
                roles=granted, status=user_rules.INVITED, created_at=iso(deps.clock()))
    try:
        deps.users.create(user, audit.entry(deps, caller.actor, organization_id, "user.invited",
                                            f"user:{user.id}", after=user_view(user)))
    except Exception:
        # No half-made users: without the record, the identity must not linger either.
        deps.identity.delete_user(email)
        raise
    queue_welcome_email(deps, user, organization, password, contract_items)
    return user


def _hand_conflict_to_operators(deps: InviteDeps, caller: Caller, *, email: str, name: str, roles) -> User:
    """The email is a login of another organisation (or the reseller's). Saying so would tell the
    caller who is whose customer, so the answer is that of any invitation, while nothing is created,
    no welcome email goes to that address, and the operators get the conflict to sort out: an entry
    in their trail and an email to their address."""
    held = User(id=new_id(), organization_id=caller.organization_id, email=email, name=name, roles=roles,
                status=user_rules.INVITED, created_at=iso(deps.clock()))
    organization = deps.organizations.get(caller.organization_id)
    deps.audit.append(audit.entry(deps, caller.actor, user_rules.RESELLER_ORGANIZATION_ID, "user.invite_conflict",
                                  f"organization:{caller.organization_id}", after=user_view(held)))
    notifications.queue_email(
        deps, template="user_invite_conflict", to=[deps.settings.operators_email],
        delivery_key=f"user_invite_conflict#{held.id}",
        context={"organization": {"id": organization.id, "name": organization.name},
                 "invited": {"email": email, "name": name,
                             "roles": [ROLE_LABELS[r] for r in sorted(roles, key=lambda r: r.value)]},
                 "invited_by": caller.user.email, "portal_url": deps.settings.portal_url})
    return held


def _contract_items(deps: InviteDeps, organization_id: str) -> List[Dict[str, Any]]:
    if organization_id == user_rules.RESELLER_ORGANIZATION_ID:
        return []  # operators have no contract
    return [{"name": i.name, "quantity": i.quantity} for i in deps.contracts.get(organization_id).items]


def queue_welcome_email(deps: WelcomeEmailDeps, user: User, organization, temporary_password: str,
                        contract_items: List[Dict[str, Any]]) -> None:
    notifications.queue_email(
        deps, template="user_invited", to=[user.email], delivery_key=f"user_invited#{user.id}",
        organization_id=user.organization_id,
        context={
            "user": {"name": user.name, "email": user.email},
            "organization": {"name": organization.name},
            "role_labels": [ROLE_LABELS[r] for r in sorted(user.roles, key=lambda r: r.value)],
            "is_master": user.is_master,
            "temporary_password": temporary_password,
            "contract_items": contract_items,
            "portal_url": deps.settings.portal_url,
            "office365_admin_url": deps.settings.office365_admin_url,
        },
    )


def change_roles(deps: UserAdminDeps, caller: Caller, user_id: str, *, roles: Iterable[str],
                 expected_version: Optional[int]) -> User:
    user = deps.users.get_in_organization(caller.organization_id, user_id)
    if expected_version is not None and expected_version != user.version:
        raise codes.VERSION_CONFLICT()
    granted = user_rules.validate_roles(roles, caller.organization_id)
    organization = deps.organizations.get(caller.organization_id)
    user_rules.ensure_not_removing_last_master(user, granted, organization.masters_count)
    before = user_view(user)
    changed = User(**{**user.__dict__, "roles": granted, "version": user.version + 1})
    deps.users.save_roles(
        changed, expected_version=user.version, masters_delta=user_rules.master_delta(user.roles, granted),
        audit=audit.entry(deps, caller.actor, caller.organization_id, "user.roles_changed",
                          f"user:{user.id}", before=before, after=user_view(changed)),
    )
    return changed


def remove_user(deps: UserAdminDeps, caller: Caller, user_id: str) -> None:
    user = deps.users.get_in_organization(caller.organization_id, user_id)
    organization = deps.organizations.get(caller.organization_id)
    user_rules.ensure_not_removing_last_master(user, None, organization.masters_count)
    # Sign-in is disabled first, so no step of the removal leaves a working login behind; if the
    # record cannot be removed (a concurrent change), the login comes back as it was.
    deps.identity.set_enabled(user.email, False)
    try:
        deps.users.delete(user, masters_delta=user_rules.master_delta(user.roles, None),
                          audit=audit.entry(deps, caller.actor, caller.organization_id, "user.removed",
                                            f"user:{user.id}", before=user_view(user)))
    except Exception:
        deps.identity.set_enabled(user.email, True)
        raise
    deps.identity.delete_user(user.email)
