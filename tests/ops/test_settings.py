"""[tool.alembic-guard] settings: discovery, units, overrides, errors."""

from __future__ import annotations

import pytest

from alembic_guard.errors import GuardError
from alembic_guard.settings import Settings, find_pyproject, load_settings, parse_duration_ms


def test_defaults_without_a_pyproject(tmp_path):
    assert load_settings(tmp_path) == Settings()
    s = Settings()
    assert (s.lock_timeout_ms, s.statement_timeout_ms, s.retry_attempts, s.batch_size, s.batch_pause_ms) == \
        (1000, 5000, 10, 1000, 0)


def test_found_by_walking_up_past_a_pyproject_without_the_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.alembic-guard]\nlock_timeout = "2s"\nstatement_timeout_ms = 30000\nretry_attempts = 4\n'
        'batch_size = 5000\nbatch_pause = "10ms"\nconcurrent_lock_timeout = "1min"\n')
    nested = tmp_path / "svc" / "migrations"
    nested.mkdir(parents=True)
    (tmp_path / "svc" / "pyproject.toml").write_text("[project]\nname = 'svc'\n")
    (nested / "alembic.ini").write_text("")
    assert find_pyproject(nested / "alembic.ini") == tmp_path / "pyproject.toml"
    s = load_settings(nested / "alembic.ini")
    assert (s.lock_timeout_ms, s.statement_timeout_ms, s.retry_attempts, s.batch_size, s.batch_pause_ms,
            s.concurrent_lock_timeout_ms) == (2000, 30000, 4, 5000, 10, 60000)
    assert s.source == str(tmp_path / "pyproject.toml")


def test_current_directory_is_the_default_start(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[tool.alembic-guard]\nbatch_size = 250\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().batch_size == 250


@pytest.mark.parametrize("value, ms", [(250, 250), ("250", 250), ("250ms", 250), ("1.5s", 1500), ("2min", 120000),
                                       ("1h", 3600000), (0, 0)])
def test_durations(value, ms):
    assert parse_duration_ms(value) == ms


@pytest.mark.parametrize("value", ["-1s", "1 fortnight", "0.5ms", True, 1.5, "abc"])
def test_bad_durations(value):
    with pytest.raises(GuardError):
        parse_duration_ms(value, "lock_timeout")


@pytest.mark.parametrize("body, message", [
    ('lock_timeout = "1s"\nlock_timeout_ms = 1000', "keep one"),
    ('retry_attempts = "many"', "integer"),
    ("retry_attempts = 0", "at least 1"),
    ('lock_timeout = "soon"', "unknown unit"),
    ("lock_timeout = [", "cannot parse"),
    ('vacuum_every = "0.1"', r"vacuum_every must be a fraction in \[0, 1\]"),
    ("vacuum_every = false", r"vacuum_every must be a fraction in \[0, 1\]"),
    ("vacuum_every = 1.5", r"vacuum_every must be a fraction in \[0, 1\]"),
    ('duty_cycle = "0.5"', r"duty_cycle must be a fraction in \(0, 1\]"),
    ("min_duty_cycle = 0", r"min_duty_cycle must be a fraction in \(0, 1\]"),
    ("duty_cycle = true", r"duty_cycle must be a fraction in \(0, 1\]"),
    ("target_version = 99", "target_version must be at most 30, not 99"),
])
def test_bad_files_name_the_problem(tmp_path, body, message):
    (tmp_path / "pyproject.toml").write_text(f"[tool.alembic-guard]\n{body}\n")
    with pytest.raises(GuardError, match=message):
        load_settings(tmp_path)


def test_override_per_call():
    s = Settings().override(lock_timeout_ms=300, retry_attempts=None)
    assert s.lock_timeout_ms == 300 and s.retry_attempts == 10
    with pytest.raises(TypeError, match="lock_timout_ms"):
        Settings().override(lock_timout_ms=3)


@pytest.mark.parametrize("value", ["0", "0.25", "1"])
def test_vacuum_every_from_toml(tmp_path, value):
    (tmp_path / "pyproject.toml").write_text(f"[tool.alembic-guard]\nvacuum_every = {value}\n")
    assert load_settings(tmp_path).vacuum_every == float(value)
