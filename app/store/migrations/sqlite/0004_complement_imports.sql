-- The complement-map files already imported into the store (app/store/complement_import.py):
-- each file once, ever, so a map deleted later (through the API, or with its catalog) stays
-- deleted across restarts instead of coming back from a file left in place.

CREATE TABLE complement_imports (
    file TEXT PRIMARY KEY,           -- <catalog>.<source>.json
    imported_at TEXT NOT NULL
) STRICT;
