"""Verify speed: ``verify_changelog`` vs a bare ``json.loads`` pass over the same log, and
the event-level proof vs the state comparison on a log of a million events.

Run: ``.venv/bin/python bench/verify.py [--events 210000] [--repeat 3] [--proof-events 1000000]``.
Builds a synthetic change log in hospital-sim's capture shape (inserts into the seven
tables, then updates of some of those rows; created_at/updated_at carry the commit time,
as the database's defaults and trigger set them), the rows it should leave behind, and times
the full verify (parse, normalise, replay, compare) next to the floor of merely decoding
each line's JSON. Prints events/s for both and their ratio; the target is >= 20,000
verified events/s.

Then it writes a log of ``--proof-events`` events to a temporary file and runs, in the same
process, the event-level proof (the log against itself as the reference, so every event is
matched and both files are parsed) and the state comparison of the same file: log events
per second of each, their ratio, and the peak memory each allocated (tracemalloc, in a
separate run so that it does not slow the timed one). Targets for the proof: >= 50,000 log
events/s and <= 1 GB. No database is needed.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from hospital_sim.cdc.capture.envelope import row_event
from hospital_sim.cdc.schema_types import TABLE_SCHEMAS, PgType
from hospital_sim.cdc.values import EPOCH
from hospital_sim.cdc.verify import verify_changelog
from hospital_sim.cdc.verify.check import log_lines, prove_log

# Share of the inserts per table, after the seed defaults (2000/200/12/2500/4000/3500/1200).
WEIGHTS = {
    "pacientes": 2000,
    "medicos": 200,
    "convenios": 12,
    "pacientes_convenios": 2500,
    "consultas": 4000,
    "exames": 3500,
    "internacoes": 1200,
}
TARGET_EVENTS_PER_S = 20_000
PROOF_TARGET_EVENTS_PER_S = 50_000
PROOF_TARGET_BYTES = 1 << 30
WORDS = [
    "Conceição",
    "São",
    "Paulo",
    "Ribeirão",
    "ambulatório",
    "exame",
    "glicemia",
    "raio-X",
    "tórax",
    "Sant'Anna",
]


def _value(rng: random.Random, column: str, pg_type: PgType, ids: dict[str, int]) -> Any:
    if pg_type is PgType.BIGINT:
        parent = column.removesuffix("_id") + "s"
        return rng.randint(1, max(1, ids.get(parent, 1000)))
    if pg_type is PgType.VARCHAR:
        return " ".join(rng.choices(WORDS, k=rng.randint(2, 6)))
    if pg_type is PgType.DATE:
        return date(1940, 1, 1) + timedelta(days=rng.randint(0, 30_000))
    return datetime(2024, 1, 1) + timedelta(microseconds=rng.randint(0, 63_000_000_000_000))


def build_log(n_events: int, seed: int = 7) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    """``n_events`` JSON lines (about 70% inserts, then updates) and the final rows."""
    rng = random.Random(seed)
    total_weight = sum(WEIGHTS.values())
    n_inserts = int(n_events * 0.7)
    counts = {t: max(1, n_inserts * w // total_weight) for t, w in WEIGHTS.items()}
    rows: dict[str, dict[int, dict[str, Any]]] = {t: {} for t in TABLE_SCHEMAS}
    lines: list[str] = []
    lsn, xid = 30_000_000, 1000
    clock = datetime(2026, 11, 29, 0, 28, 26)

    def commit_time() -> datetime:
        nonlocal clock
        clock += timedelta(microseconds=rng.randint(0, 3000))
        return clock

    def emit(table: str, op: Literal["c", "u"], after: dict[str, Any]) -> None:
        # As in the database, created_at/updated_at hold the writing transaction's time.
        nonlocal lsn, xid
        lsn += rng.randint(40, 400)
        xid += 1
        source_ts_ms = (clock - EPOCH) // timedelta(milliseconds=1)
        event = row_event(
            table, op, before=None, after=after, db="hospital", lsn=lsn, tx_id=xid,
            source_ts_ms=source_ts_ms, ts_ms=source_ts_ms + rng.randint(20, 400),
        )  # fmt: skip
        # What hospital-sim capture adds: Debezium's (last commit LSN, change LSN) order key.
        event["source"]["sequence"] = json.dumps([str(lsn - 56), str(lsn)])
        lines.append(json.dumps(event, ensure_ascii=False))

    for table, count in counts.items():
        columns = TABLE_SCHEMAS[table].columns
        for key in range(1, count + 1):
            row: dict[str, Any] = {"id": key}
            row.update({c.name: _value(rng, c.name, c.type, counts) for c in columns[1:-2]})
            row["created_at"] = row["updated_at"] = commit_time()
            rows[table][key] = row
            emit(table, "c", row)
    tables = list(counts)
    while len(lines) < n_events:
        table = rng.choice(tables)
        key = rng.randint(1, counts[table])
        row = dict(rows[table][key])
        column = rng.choice(TABLE_SCHEMAS[table].columns[1:-2])
        row[column.name] = _value(rng, column.name, column.type, counts)
        row["updated_at"] = commit_time()
        rows[table][key] = row
        emit(table, "u", row)
    return lines, {t: list(r.values()) for t, r in rows.items()}


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of ``repeat`` runs of ``fn``."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def _peak_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes allocated by Python while ``fn`` runs."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def proof_bench(n_events: int) -> bool:
    """The event-level proof and the state comparison on one file; True if targets met."""
    start = time.perf_counter()
    lines, expected = build_log(n_events)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "changes.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        del lines
        print(
            f"\nwrote {n_events:,} events to a file in {time.perf_counter() - start:.1f} s",
            flush=True,
        )

        def proof() -> object:
            report = prove_log(path, path)
            assert report.ok, report.render()
            return report

        def state() -> object:
            report = verify_changelog(log_lines(path), expected)
            assert report.identical
            return report

        # The bench's own million expected rows would make every garbage collection walk
        # them; a user's verify process does not hold them. Freeze them out of the way.
        gc.collect()
        gc.freeze()
        proof_wall, _ = _best(proof, 1)
        state_wall, _ = _best(state, 1)
        proof_peak, state_peak = _peak_bytes(proof), _peak_bytes(state)
    print("                       log events/s   peak MB (tracemalloc)")
    print(f"event-level proof      {n_events / proof_wall:>14,.0f} {proof_peak / 1e6:>12,.0f}")
    print(f"state comparison       {n_events / state_wall:>14,.0f} {state_peak / 1e6:>12,.0f}")
    print(
        f"ratio proof / state: {state_wall / proof_wall:.2f} (speed), "
        f"{proof_peak / state_peak:.2f} (memory)"
    )
    fast = n_events / proof_wall >= PROOF_TARGET_EVENTS_PER_S
    small = proof_peak <= PROOF_TARGET_BYTES
    print(
        f"proof targets: >= {PROOF_TARGET_EVENTS_PER_S:,} events/s {'met' if fast else 'NOT met'}, "
        f"<= 1 GB {'met' if small else 'NOT met'}"
    )
    return fast and small


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=210_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--proof-events", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    lines, expected = build_log(args.events)
    print(f"built {len(lines):,} events in {time.perf_counter() - start:.1f} s")

    report = verify_changelog(lines, expected)
    if not report.identical:
        print(report.render_table())
        print("FAIL: the synthetic log does not verify identical")
        return 1

    n = len(lines)
    ours, ours_cpu = _best(lambda: verify_changelog(lines, expected), args.repeat)
    floor, floor_cpu = _best(lambda: [json.loads(line) for line in lines], args.repeat)
    print(f"best of {args.repeat}          wall events/s   CPU events/s")
    print(f"verify_changelog   {n / ours:>14,.0f} {n / ours_cpu:>14,.0f}")
    print(f"json.loads only    {n / floor:>14,.0f} {n / floor_cpu:>14,.0f}")
    print(f"ratio verify / json.loads: {floor / ours:.2f} (wall), {floor_cpu / ours_cpu:.2f} (CPU)")
    ok = n / ours >= TARGET_EVENTS_PER_S
    print(f"target >= {TARGET_EVENTS_PER_S:,} events/s (wall): {'met' if ok else 'NOT met'}")
    proof_ok = proof_bench(args.proof_events) if args.proof_events > 0 else True
    return 0 if ok and proof_ok else 1


if __name__ == "__main__":
    sys.exit(main())
