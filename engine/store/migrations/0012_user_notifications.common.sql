-- Notifications for one user: a hit on a hotlist entry they added (policy 462.2(c)). Written in the
-- transaction that stores a new alert, so a replayed alert, which stores nothing, notifies nobody
-- twice (UNIQUE below makes sure). The row goes with its alert when retention purges the alert.
CREATE TABLE IF NOT EXISTS user_notifications (
    notification_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text        NOT NULL,
    raised_at       timestamptz NOT NULL DEFAULT now(),
    kind            text        NOT NULL CHECK (kind IN ('hotlist_hit')),
    alert_id        text        NOT NULL REFERENCES alerts (alert_id) ON DELETE CASCADE,
    message         text        NOT NULL CHECK (length(message) <= 500),
    read_at         timestamptz,
    UNIQUE (username, kind, alert_id)
);
CREATE INDEX IF NOT EXISTS user_notifications_user ON user_notifications (username, notification_id DESC);
