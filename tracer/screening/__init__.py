"""Sanctions screening: single addresses against the label store, and exposure in traces."""
