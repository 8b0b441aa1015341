"""The embedded local stack behind `make run` (never imported by chalicelib)."""
