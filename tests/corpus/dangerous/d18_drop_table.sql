-- hazard: DROP TABLE of a table in use: data loss and errors in the running application.
-- expect: drop-table
DROP TABLE audit_log;
