-- Shopper events, what responses showed (impressions) and A/B experiments (docs/events.md).
-- Event and impression times are integer microseconds since the epoch (UTC): exact, compact,
-- ordered; the high-volume tables skip the ISO text the control tables use.

CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- append order; AUTOINCREMENT: never reused after a prune
    catalog TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('view', 'click', 'add_to_cart', 'purchase')),
    item_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    user_id TEXT,
    order_id TEXT,
    request_id TEXT,
    position INTEGER,
    category TEXT,                          -- the item's category key when the catalog knew the item
    at_us INTEGER NOT NULL,                 -- when it happened
    received_us INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX events_event_id ON events (catalog, event_id);
CREATE INDEX events_session ON events (catalog, session_id, at_us);
CREATE INDEX events_user ON events (catalog, user_id, at_us) WHERE user_id IS NOT NULL;
CREATE INDEX events_request ON events (catalog, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX events_at ON events (at_us);

CREATE TABLE impressions (
    catalog TEXT NOT NULL,
    request_id TEXT NOT NULL,
    shown_by TEXT NOT NULL,                 -- search / similar / recommendations / bundles
    ranking TEXT NOT NULL,
    experiment TEXT,
    variant TEXT,
    item_ids TEXT NOT NULL,                 -- JSON array, in the order shown
    at_us INTEGER NOT NULL,
    PRIMARY KEY (catalog, request_id)
) STRICT;

CREATE INDEX impressions_at ON impressions (catalog, at_us);
CREATE INDEX impressions_prune ON impressions (at_us);

CREATE TABLE experiments (
    catalog TEXT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL CHECK (unit IN ('user', 'session')),
    variants TEXT NOT NULL,                 -- JSON array of {name, weight, rerank, blend}
    routes TEXT NOT NULL,                   -- JSON array of search / similar / recommendations / bundles
    created_at TEXT NOT NULL,
    stopped_at TEXT,
    PRIMARY KEY (catalog, name)
) STRICT;
