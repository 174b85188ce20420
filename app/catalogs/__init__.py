"""The catalog write use case: create and delete catalogs, upsert products in bulk (per-row
results, incremental by content hash), patch one product, delete products, full sync. A sibling of
search, the assistant and bundles over the same ports (docs/catalogs.md)."""
