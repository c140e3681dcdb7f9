-- The notification service's REST API: who last changed a template and when; notifications are
-- listed newest first, by customer or by order.
ALTER TABLE templates
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN updated_by text;
CREATE INDEX notifications_customer ON notifications (customer_id, id);
