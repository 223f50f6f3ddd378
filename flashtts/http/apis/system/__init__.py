"""Health, readiness, server info and metrics."""
