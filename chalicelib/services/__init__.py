"""Use cases. Each is a module-level function: the composition root's `Container` and plain
values in, a plain value out. No HTTP here, no boto3: adapters and repositories are handed in."""
