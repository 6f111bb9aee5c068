"""The change log file: a capture that fails before its first event leaves none behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from hospital_sim.cdc.capture.sink import change_log
from hospital_sim.errors import UserError


def test_a_failed_run_removes_the_empty_log_it_created(tmp_path: Path) -> None:
    path = tmp_path / "changes.jsonl"
    with pytest.raises(UserError), change_log(path):
        raise UserError("the server refused the login")
    assert not path.exists()


def test_a_failed_run_keeps_what_it_wrote_and_a_log_that_was_there(tmp_path: Path) -> None:
    written, existing = tmp_path / "written.jsonl", tmp_path / "existing.jsonl"
    existing.write_text("")
    with pytest.raises(UserError), change_log(written) as out:
        out.write('{"op":"c"}\n')
        raise UserError("connection lost")
    with pytest.raises(UserError), change_log(existing):
        raise UserError("connection lost")
    assert written.read_text() == '{"op":"c"}\n'
    assert existing.exists()
