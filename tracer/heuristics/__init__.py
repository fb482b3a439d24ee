"""Heuristics: taint policies, demixing, off-ramp detection and flow patterns."""
