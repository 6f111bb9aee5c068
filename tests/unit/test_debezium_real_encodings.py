"""Real Debezium 3.6.3 output: ±infinity encodings and transaction metadata.

The fixture is a capture by `cdc capture --engine debezium` with
provide.transaction.metadata=true (provenance in tests/fixtures/debezium/README.md).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from hospital_sim.cdc.verify.compare import check_transactions
from hospital_sim.cdc.verify.events import ChangeLogParser
from hospital_sim.cdc.verify.replay import replay

FIXTURE = (
    Path(__file__).parents[1] / "fixtures" / "debezium" / "transaction_metadata_infinity.jsonl"
)


def _events() -> tuple[list, ChangeLogParser]:  # type: ignore[type-arg]
    parser = ChangeLogParser()
    return list(parser.parse(FIXTURE.read_text(encoding="utf-8").splitlines())), parser


def test_debezium_date_and_timestamp_infinity_decode_to_the_extremes() -> None:
    events, _ = _events()
    cards = {e.key: e.after["validade"] for e in events if e.table == "pacientes_convenios"}
    assert cards == {4: date.max, 5: date.min}  # 'infinity', '-infinity'
    stays = {e.key: e.after for e in events if e.table == "internacoes" and e.key in (3, 4)}
    assert (stays[3]["data_entrada"], stays[3]["data_saida"]) == (datetime.min, datetime.max)
    assert stays[4]["data_entrada"] == datetime(1969, 12, 31, 23, 59, 59, 999999)
    assert stays[4]["data_saida"] == datetime(9999, 12, 31, 23, 59, 59)


def test_debezium_transaction_end_markers_match_the_events_of_their_transaction() -> None:
    events, parser = _events()
    ends = parser.stats.transaction_ends
    # Three row transactions; the END of the capture's own stop message is not counted.
    assert [(e.id, e.key, e.event_count, e.tables) for e in ends] == [
        ("1168:101379224", "1168", 2, {"pacientes_convenios": 2}),
        ("1169:101379744", "1169", 1, {"internacoes": 1}),
        ("1170:101380160", "1170", 1, {"internacoes": 1}),
    ]
    counts = replay(events).transaction_counts
    assert check_transactions(ends, counts) == []
    # One event fewer than the END says: a mismatch naming the table.
    lost = [e for e in events if not (e.table == "pacientes_convenios" and e.key == 5)]
    [mismatch] = check_transactions(ends, replay(lost).transaction_counts)
    assert (mismatch.id, mismatch.table, mismatch.expected, mismatch.got) == (
        "1168:101379224",
        "pacientes_convenios",
        2,
        1,
    )
