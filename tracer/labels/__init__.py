"""Address labels (entity, category) with their provenance."""
