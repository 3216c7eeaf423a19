"""password-in-revision, and the masking of passwords in the trace (sql/secrets.py): what a revision
sets as a password never reaches a report, the cache or a PR comment."""

from __future__ import annotations

import pytest

from alembic_guard.redact import redact
from alembic_guard.sql.secrets import mask_passwords, scrub_error
from helpers import describe, findings

SECRET = "Hunter2-secret"


def ex(sql: str) -> str:
    return f"op.execute({sql!r})"


@pytest.mark.parametrize("sql, alternative", [
    (f"CREATE ROLE ag_pw_app LOGIN PASSWORD '{SECRET}' VALID UNTIL 'infinity'",
     "CREATE ROLE ag_pw_app WITH LOGIN VALID UNTIL 'infinity'"),
    (f"CREATE USER ag_pw_app ENCRYPTED PASSWORD '{SECRET}'", "CREATE USER ag_pw_app"),
    (f"CREATE ROLE ag_pw_app; ALTER ROLE ag_pw_app PASSWORD '{SECRET}'", "drop this statement"),
    ("CREATE FOREIGN DATA WRAPPER ag_pw_fdw; CREATE SERVER ag_pw_srv FOREIGN DATA WRAPPER ag_pw_fdw; "
     f"CREATE USER MAPPING FOR CURRENT_USER SERVER ag_pw_srv OPTIONS (user 'u', password '{SECRET}')",
     "OPTIONS (user 'u')"),
])
def test_a_password_in_sql_is_a_warning_and_masked_in_the_trace(run, sql, alternative):
    rev = run(ex(sql))
    (f,) = findings(rev, "password-in-revision")
    assert f.severity == "warning" and "version control" in f.message, describe(rev)
    assert alternative in f.fix and SECRET not in f.fix
    assert rev.verdict == "safe", describe(rev)  # a warning: the revision is not unsafe
    texts = [st.sql for st in rev.statements] + [st.source_sql or "" for st in rev.statements]
    assert not any(SECRET in t for t in texts) and any("'***'" in t for t in texts)


@pytest.mark.parametrize("sql", ["CREATE ROLE ag_pw_app LOGIN PASSWORD NULL",
                                 "CREATE TABLE ag_pw_users (id int, password text); "
                                 "UPDATE ag_pw_users SET password = 'not-a-role-password'"])
def test_no_password_clause_no_finding(run, sql):
    rev = run(ex(sql))
    assert not findings(rev, "password-in-revision"), describe(rev)
    assert "not-a-role-password" in " ".join(st.sql for st in rev.statements) or "NULL" in sql


@pytest.mark.parametrize("sql, masked", [
    ("ALTER ROLE x ENCRYPTED PASSWORD E'a\\'b' VALID UNTIL '2030-01-01'",
     "ALTER ROLE x ENCRYPTED PASSWORD '***' VALID UNTIL '2030-01-01'"),
    ("COMMENT ON ROLE x IS 'héllo'; ALTER USER x PASSWORD $$pä'ss$$", "COMMENT ON ROLE x IS 'héllo'; "
     "ALTER USER x PASSWORD '***'"),
    ("SELECT password FROM users WHERE password = 'x'", "SELECT password FROM users WHERE password = 'x'"),
    ("ALTER ROLE x PASSWORD 'unterminated", "ALTER ROLE x PASSWORD 'unterminated"),
    ("CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'u', \"password\" 'p1')",
     "CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'u', \"password\" '***')"),
])
def test_mask_passwords(sql, masked):
    assert mask_passwords(sql) == masked


def test_a_failing_password_statement_quotes_no_password(run):
    # PostgreSQL's error excerpt ("LINE 1: ...PASSWORD 'x' …") is cut at any width: left out whole
    rev = run(ex(f"CREATE ROLE ag_pw_bad LOGIN PASSWORD '{SECRET}' CONNECTION LIMIT 'x'"), allow_error=True)
    assert rev.error and SECRET not in rev.error and "left out" in rev.error, rev.error
    assert all(SECRET not in (st.observation.error or "") for st in rev.statements)
    assert SECRET not in redact(f"anything quoting {SECRET}")  # remembered when it was masked


def test_scrub_error_keeps_excerpts_without_a_password():
    text = 'syntax error at or near "x"\nLINE 1: SELECT x y\n                 ^'
    assert scrub_error(text) == text
    cut = "syntax error\nLINE 1: ...ROLE a PASSWORD 'hunt\n                 ^\nHINT: h"
    assert scrub_error(cut) == "syntax error\nLINE 1: (the statement excerpt is left out: it sets a password)\nHINT: h"
