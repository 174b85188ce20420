"""Metrics (Prometheus) and traces (OpenTelemetry): what operators see of the service."""
