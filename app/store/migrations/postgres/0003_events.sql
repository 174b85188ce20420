-- Shopper events, what responses showed (impressions) and A/B experiments (docs/events.md).
-- Event and impression times are integer microseconds since the epoch (UTC), as in SQLite.

CREATE TABLE events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- append order (writers serialise: see the adapter)
    catalog TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('view', 'click', 'add_to_cart', 'purchase')),
    item_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    user_id TEXT,
    order_id TEXT,
    request_id TEXT,
    position INTEGER,
    category TEXT,
    at_us BIGINT NOT NULL,
    received_us BIGINT NOT NULL
);

CREATE UNIQUE INDEX events_event_id ON events (catalog, event_id);
CREATE INDEX events_session ON events (catalog, session_id, at_us);
CREATE INDEX events_user ON events (catalog, user_id, at_us) WHERE user_id IS NOT NULL;
CREATE INDEX events_request ON events (catalog, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX events_at ON events (at_us);

CREATE TABLE impressions (
    catalog TEXT NOT NULL,
    request_id TEXT NOT NULL,
    shown_by TEXT NOT NULL,
    ranking TEXT NOT NULL,
    experiment TEXT,
    variant TEXT,
    item_ids TEXT[] NOT NULL,
    at_us BIGINT NOT NULL,
    PRIMARY KEY (catalog, request_id)
);

CREATE INDEX impressions_at ON impressions (catalog, at_us);
CREATE INDEX impressions_prune ON impressions (at_us);

CREATE TABLE experiments (
    catalog TEXT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL CHECK (unit IN ('user', 'session')),
    variants JSONB NOT NULL,
    routes TEXT[] NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    stopped_at TIMESTAMPTZ,
    PRIMARY KEY (catalog, name)
);
