"""Off-ramps: exchange deposit addresses found by behaviour, and where traced funds left."""
