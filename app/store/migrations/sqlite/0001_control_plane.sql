-- The control plane: catalogs' settings, API keys (hashes only), complement maps.
-- Times are ISO-8601 UTC text; lists are JSON arrays. STRICT tables check column types.

CREATE TABLE catalogs (
    name TEXT PRIMARY KEY,
    display_name TEXT,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,            -- JSON array of search / write / admin
    catalogs TEXT,                   -- JSON array of catalog names; NULL: every catalog
    rate_per_s REAL,
    burst INTEGER,
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;

CREATE TABLE complement_maps (
    catalog TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('merchandiser', 'learned')),
    provenance TEXT NOT NULL DEFAULT '',
    complements TEXT NOT NULL,       -- JSON object: category -> [complement categories]
    updated_at TEXT NOT NULL,
    PRIMARY KEY (catalog, source)
) STRICT;
