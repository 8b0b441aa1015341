"""Chalice blueprints, one per area: parse + validate → authorize → service → JSON."""
