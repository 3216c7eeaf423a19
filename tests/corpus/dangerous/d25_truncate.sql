-- hazard: TRUNCATE deletes every row (no WHERE, no undo after commit) under ACCESS EXCLUSIVE.
-- expect: truncate
TRUNCATE audit_log;
