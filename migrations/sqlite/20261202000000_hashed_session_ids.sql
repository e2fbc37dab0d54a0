-- Sessions are now stored under a hash of their id (store/src/access/sessions.rs):
-- rows keyed by a clear id could be presented as cookies by anyone who reads
-- this table. They are removed; their users sign in again once.
DELETE FROM tower_sessions;
