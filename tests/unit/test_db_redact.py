"""Connection strings are shown without their passwords."""

from __future__ import annotations

from pathlib import Path

from hospital_sim.config import load_settings
from hospital_sim.db.connect import redact, resolve_target


def test_redact_drops_password_from_url_and_conninfo() -> None:
    assert "s3cret" not in redact("postgresql://app:s3cret@db:5432/hospital")
    assert "s3cret" not in redact("host=db user=app password=s3cret dbname=hospital")
    assert "host=db" in redact("postgresql://app:s3cret@db:5432/hospital")


def test_target_from_pg_settings_hides_password(tmp_path: Path) -> None:
    s = load_settings(
        config_dir=tmp_path,
        environ={
            "PG_HOST": "db.internal",
            "PG_PORT": "6543",
            "PG_USER": "app",
            "PG_PASSWORD": "s3cret",
            "PG_DATABASE": "h",
        },
    ).settings
    target = resolve_target(s)
    assert not target.embedded
    assert target.host_port == "db.internal:6543"
    assert "s3cret" in target.conninfo and "s3cret" not in target.display
    assert "s3cret" not in repr(target) and "db.internal" in repr(target)
    assert "s3cret" not in repr(target.with_dbname("other"))


def test_embedded_target_without_server_settings(tmp_path: Path) -> None:
    s = load_settings(config_dir=tmp_path, environ={"HOSPITAL_SIM_EMBEDDED_PORT": "55001"}).settings
    target = resolve_target(s)
    assert target.embedded and target.host_port == "127.0.0.1:55001"
