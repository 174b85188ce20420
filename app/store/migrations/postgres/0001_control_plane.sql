-- The control plane: catalogs' settings, API keys (hashes only), complement maps.

CREATE TABLE catalogs (
    name TEXT PRIMARY KEY,
    display_name TEXT,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scopes TEXT[] NOT NULL,          -- search / write / admin
    catalogs TEXT[],                 -- NULL: every catalog
    rate_per_s DOUBLE PRECISION,
    burst INTEGER,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);

CREATE TABLE complement_maps (
    catalog TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('merchandiser', 'learned')),
    provenance TEXT NOT NULL DEFAULT '',
    complements JSONB NOT NULL,      -- category -> [complement categories]
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (catalog, source)
);
