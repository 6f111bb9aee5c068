"""The operation catalogue, weights parsing and the weighted picker."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from hospital_sim.config import load_settings
from hospital_sim.errors import ConfigError
from hospital_sim.stream.workload import (
    DEFAULT_WEIGHTS,
    FALLBACK,
    OPERATIONS,
    OperationPicker,
    parse_weights,
    resolve_weights,
)


def test_defaults_are_the_original_mix() -> None:
    assert DEFAULT_WEIGHTS == {
        "insert_paciente": 5,
        "insert_consulta": 30,
        "insert_exame": 15,
        "insert_internacao": 20,
        "update_paciente": 8,
        "update_consulta": 10,
        "update_exame": 7,
        "update_internacao": 5,
        "collect_exame": 0,  # lifecycle steps of the hospital model: not in the mix
        "transfer_internacao": 0,
        "change_convenio": 0,
    }
    inserts = sum(w for n, w in DEFAULT_WEIGHTS.items() if OPERATIONS[n].kind == "INSERT")
    assert inserts / sum(DEFAULT_WEIGHTS.values()) == 0.7


def test_every_fallback_chain_ends_at_insert_paciente() -> None:
    for name in OPERATIONS:
        seen = [name]
        while seen[-1] in FALLBACK:
            seen.append(FALLBACK[seen[-1]])
            assert len(seen) < 10
        assert seen[-1] == "insert_paciente"


def test_parse_weights_merges_over_the_defaults() -> None:
    weights = resolve_weights(parse_weights("insert_consulta=40, update_exame=0"))
    assert weights["insert_consulta"] == 40 and weights["update_exame"] == 0
    assert weights["insert_paciente"] == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("insert_consulta", "op=weight"),
        ("insert_consulta=lots", "not a number"),
        ("delete_paciente=3", "accepted operations: insert_paciente"),
        ("update_exame=-1", "0..1000000"),
        ("update_exame=1e308", "0..1000000"),
        (",".join(f"{n}=0" for n in OPERATIONS), "all weights are 0"),
    ],
)
def test_bad_weights_say_what_is_accepted(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_weights(parse_weights(text))


def test_weights_from_settings_toml_inline_table(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text("stream_weights = { update_paciente = 0 }\n")
    s = load_settings(config_dir=tmp_path, environ={}).settings
    assert s.stream_weights["update_paciente"] == 0
    assert s.stream_weights["insert_consulta"] == 30


def test_weights_from_a_toml_table_and_env(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text("[stream_weights]\ninsert_exame = 1\n")
    env = {"STREAM_WEIGHTS": "insert_consulta=2"}
    s = load_settings(config_dir=tmp_path, environ=env).settings
    assert (s.stream_weights["insert_exame"], s.stream_weights["insert_consulta"]) == (15, 2)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STREAM_WEIGHTS": "foo=1"}, "STREAM_WEIGHTS=foo=1 .*unknown operation 'foo'"),
        ({"STREAM_RATE": "-3"}, "STREAM_RATE=-3 .*greater than or equal to 0.001"),
        ({"STREAM_RATE": "inf"}, "STREAM_RATE=inf .*finite number"),
        ({"STREAM_SHARD_INDEX": "2", "STREAM_SHARD_COUNT": "2"}, "accepted 0..1"),
        ({"STREAM_PROFILE": "ramp"}, "give STREAM_RATE"),
        ({"STREAM_WORKERS": "0"}, "STREAM_WORKERS=0"),
    ],
)
def test_bad_stream_settings_are_one_clear_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(config_dir=Path("/nonexistent"), environ=env)
    assert "\n" not in str(info.value)


def test_picker_follows_the_weights() -> None:
    picker = OperationPicker(DEFAULT_WEIGHTS)
    rng = random.Random(5)
    counts = Counter(picker.pick(rng) for _ in range(100_000))
    for name, weight in DEFAULT_WEIGHTS.items():
        assert counts[name] / 100_000 == pytest.approx(weight / 100, abs=0.006)


def test_picker_never_draws_a_zero_weight() -> None:
    picker = OperationPicker({**DEFAULT_WEIGHTS, "update_exame": 0, "insert_consulta": 0})
    rng = random.Random(1)
    drawn = {picker.pick(rng) for _ in range(20_000)}
    assert "update_exame" not in drawn and "insert_consulta" not in drawn
    assert len(drawn) == 6
