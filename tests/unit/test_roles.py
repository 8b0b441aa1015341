"""The role matrix is PRODUCT.md's table, and the foundation routes ask for the right capability."""
import pytest

from chalicelib.domain.roles import ROLE_CAPABILITIES, Capability, Role, can, capabilities_of

M, A, C, S, O = Role.MASTER, Role.ADM, Role.COBRANCA, Role.SUPORTE, Role.OPERATOR

# PRODUCT.md, "Roles", row by row (read there, typed here: the two must agree).
PRODUCT_MATRIX = {
    Capability.ACCEPT_CONTRACT: {M},
    Capability.MANAGE_USERS: {M, O},
    Capability.VIEW_LICENCES: {M, A, C, S, O},
    Capability.CHANGE_QUANTITIES: {M, A},
    Capability.BUY_PRODUCTS: {M, A},
    Capability.CANCEL_SERVICES: {M, A},
    Capability.BILLING: {M, C, O},
    Capability.SUPPORT_TICKETS: {M, S, O},
    Capability.READ_AUDIT: {M, O},
    Capability.BACK_OFFICE: {O},
    Capability.USE_PORTAL: {M, A, C, S, O},
    Capability.ACT_FOR_CUSTOMERS: {O},  # operators work inside customers' organisations
    Capability.EXPORT_DATA: {M, O},  # LGPD export: the Master, or an operator acting for the organisation
    # Issue #21: the spend report for Master and Cobrança (and the operator); a Master registers
    # webhooks (an operator acting for the organisation too); the Master approves an Adm's purchases.
    Capability.VIEW_REPORTS: {M, C, O},
    Capability.MANAGE_WEBHOOKS: {M, O},
    Capability.APPROVE_PURCHASES: {M},
}


@pytest.mark.parametrize("capability", list(Capability))
def test_each_capability_is_held_by_exactly_the_profiles_product_md_names(capability):
    assert set(ROLE_CAPABILITIES[capability]) == PRODUCT_MATRIX[capability]


def test_master_has_every_permission_adm_has():
    assert capabilities_of([A]) <= capabilities_of([M])


def test_a_user_with_several_profiles_holds_the_union():
    assert can([A, C], Capability.BILLING) and can([A, C], Capability.CHANGE_QUANTITIES)
    assert not can([A, C], Capability.SUPPORT_TICKETS)


def test_the_foundation_routes_require_the_capability_product_md_gives_them():
    import app  # noqa: F401 - registers the routes
    from chalicelib.api.http import ROUTES

    required = {(r.method, r.path): r.capability for r in ROUTES}
    assert required[("POST", "/contract/accept")] == Capability.ACCEPT_CONTRACT
    for method, path in [("GET", "/users"), ("POST", "/users"), ("PATCH", "/users/{user_id}"),
                         ("DELETE", "/users/{user_id}")]:
        assert required[(method, path)] == Capability.MANAGE_USERS
    assert required[("GET", "/audit")] == Capability.READ_AUDIT
    # Billing contacts are the financial data Master and Cobrança look after.
    assert required[("PATCH", "/contract")] == Capability.BILLING
    assert required[("GET", "/me")] == required[("GET", "/contract")] == Capability.USE_PORTAL
    assert required[("POST", "/auth/login")] is None and required[("GET", "/support/contacts")] is None
