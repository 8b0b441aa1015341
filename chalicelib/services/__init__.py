"""Use cases. Each is a module-level function: what it uses of the composition root's `Container`
and plain values in, a plain value out. No HTTP here, no boto3: adapters and repositories are handed in.

A use case's `deps` is annotated with a Protocol naming the container fields it uses (its module
declares them, composed by inheritance from those of the functions it calls: `audit.Clocked`,
`notifications.QueuesEmails`, `provisioning.QueuesChanges`). The Container satisfies them all, so
callers pass it; a test may pass a fake with only those fields. The protocols are declared under
`TYPE_CHECKING`: nothing to build at cold start. tests/unit/test_service_dependencies.py holds
every function to its protocol."""
