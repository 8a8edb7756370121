-- Alerts as dispatchers work them (policy 462.2(f): verified before anyone acts), the ordered
-- stream of their changes that every API instance follows and replays from, and the outbox of
-- webhook deliveries to CAD and other agencies' systems (docs/dispatch.md).

-- One row per alert, idempotent on alert_id (the id is deterministic per pass and entry, so a
-- replayed pw.alerts message lands on the same row). Everything the dispatcher's card shows is
-- here, so the page needs no join against reads (which may not be written yet) or Redis.
CREATE TABLE IF NOT EXISTS alerts (
    alert_id     text PRIMARY KEY,
    raised_at    timestamptz NOT NULL,            -- when the match stage raised it
    read_time    timestamptz NOT NULL,            -- when the frame was captured
    read_id      text NOT NULL,
    camera_id    text NOT NULL,
    plate        text NOT NULL,
    confidence   real NOT NULL DEFAULT 0,
    hotlist      text NOT NULL,
    entry        text NOT NULL,
    match_kind   text NOT NULL,
    score        real NOT NULL DEFAULT 0,
    priority     smallint NOT NULL DEFAULT 2,
    tier         text NOT NULL DEFAULT 'alert' CHECK (tier IN ('alert', 'possible')),
    evidence     real NOT NULL DEFAULT -1,
    reason       text NOT NULL DEFAULT '',
    case_number  text NOT NULL DEFAULT '',
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,   -- candidate, differs, entry fields, camera name, list age
    crop_jpeg    bytea,
    state        text NOT NULL DEFAULT 'new'
                 CHECK (state IN ('new', 'acknowledged', 'verified', 'false_hit', 'expired')),
    state_at     timestamptz NOT NULL,
    state_by     text,
    note         text,
    disposition  text CHECK (disposition IN ('stop_made', 'vehicle_recovered', 'arrest', 'no_action')),
    stored_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alerts_raised_at ON alerts (raised_at DESC);
CREATE INDEX IF NOT EXISTS alerts_open ON alerts (raised_at) WHERE state IN ('new', 'acknowledged');
CREATE INDEX IF NOT EXISTS alerts_hotlist ON alerts (hotlist, raised_at DESC);

-- The stream's head: one row whose counter every change increments inside its own transaction.
-- The row lock serialises writers, so offsets commit in the order they are handed out and a
-- follower that has read up to N never later finds a smaller offset appearing (a bigserial would
-- allow that). The epoch names this history: a restored or rebuilt database gets a new one, and a
-- client holding an offset of the old history learns that its gap cannot be filled.
CREATE TABLE IF NOT EXISTS alert_stream (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    epoch    text NOT NULL,
    last_seq bigint NOT NULL DEFAULT 0
);
INSERT INTO alert_stream (epoch)
VALUES (md5(random()::text || clock_timestamp()::text))
ON CONFLICT (id) DO NOTHING;

-- Every change, in offset order: raised, acknowledged, verified, false_hit, expired, disposition.
CREATE TABLE IF NOT EXISTS alert_events (
    seq        bigint PRIMARY KEY,
    alert_id   text NOT NULL REFERENCES alerts (alert_id) ON DELETE CASCADE,
    kind       text NOT NULL,
    state      text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,          -- a username, or 'system' (expiry)
    actor_org  text,
    note       text
);
CREATE INDEX IF NOT EXISTS alert_events_alert ON alert_events (alert_id, seq);

-- Webhook deliveries (a transactional outbox): written in the transaction of the change they
-- announce, so none is lost between the change and the send; any number of senders claim them
-- with FOR UPDATE SKIP LOCKED. `msg_id` is the Standard Webhooks `webhook-id`, the receiver's
-- idempotency key, the same on every retry.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id            bigserial PRIMARY KEY,
    destination   text NOT NULL,
    event_seq     bigint NOT NULL,
    alert_id      text NOT NULL REFERENCES alerts (alert_id) ON DELETE CASCADE,
    msg_id        text NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts      integer NOT NULL DEFAULT 0,
    next_at       timestamptz NOT NULL DEFAULT now(),
    last_error    text,
    last_status   integer,
    created_at    timestamptz NOT NULL DEFAULT now(),
    delivered_at  timestamptz,
    UNIQUE (destination, event_seq)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (next_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_dead ON webhook_deliveries (created_at) WHERE status = 'dead';
