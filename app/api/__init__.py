"""The HTTP edge: routes, DTOs, the error table and the canonical request log. Thin by design."""
