-- MessageRetention deletes inbox rows by age. Rows arrive in time order, so a BRIN index finds
-- the old ones at almost no cost to each insert (a B-tree would add one to every message).
CREATE INDEX inbox_received ON inbox USING brin (received_at);
