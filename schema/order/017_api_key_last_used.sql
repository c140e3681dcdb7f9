-- When each key was last used (to within the service's 5 s cache): `ordersaga api-key list`
-- shows it, so an unused key can be found and revoked.
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
