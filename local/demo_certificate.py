"""The demo A1 lives in the package (chalicelib/adapters/demo_certificate.py): a deployed stack
with the simulated NFS-e signs with it too. Re-exported for the local stack and the tests."""
from chalicelib.adapters.demo_certificate import DEMO_PASSWORD, demo_a1  # noqa: F401
