"""tracer: follow stolen crypto from seed addresses to the off-ramps where it can be frozen."""

__version__ = "0.1.0"
