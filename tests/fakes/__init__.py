"""Stand-ins for outside systems that the integration tests run for real on this machine (a local
HTTPS server, not a patched client), so the adapters are exercised over the wire."""
