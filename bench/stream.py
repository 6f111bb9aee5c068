"""Stream benchmarks, each a ratio measured side by side on one server.

Run: ``make bench`` or ``.venv/bin/python bench/stream.py [--quick]``.

1. Max throughput, 1 and 4 workers, vs pgbench running the same statements and mix
   (single-row INSERTs with random FK ids, UPDATEs by primary key) with as many clients,
   each operation one transaction: a bare autocommit statement, or BEGIN ... COMMIT around
   a new patient and the insurance link made with it. Targets ours >= 0.8x at 1 worker,
   >= 0.85x at 4. At 4 workers both pacings are measured: ``--rate`` as fast as it goes,
   and the original interval pacing with no pause (``STREAM_INTERVAL_SECONDS=0
   MAX_JITTER_MS=0``); both run their workers in worker processes. Every run, ours or
   pgbench's, starts from its own copy of the same seeded database.
2. Rate accuracy at 10, 100 and 1000 events/s: achieved within +-1% of the target.
3. Flat cost: max throughput with 1,000,000 patients (other tables in proportion) vs the
   default volumes: target >= 0.9x.
4. Memory: RSS after 10 minutes at max rate within 10% of RSS after 1 minute.
5. The hospital model (``--model hospital``): max throughput vs the original mix, 1 worker,
   alternated: target >= 0.8x; and its rate accuracy at 1000 events/s (within +-1%).
6. The hospital model's memory: RSS after 10 minutes at max rate within 10% of RSS after
   1 minute (appointments booked weeks ahead wait in a compact calendar, the patients it
   draws from stay at their number at the start).
7. Scenarios mixed in: max throughput with every scenario on (``--scenarios all``, one
   occurrence per 100 transactions, the long report held for the whole run) vs the default
   mix, 1 and 4 workers, alternated; the stream's events/s, plus the scenarios' own row
   changes per second. No target: it tells what the edge cases cost.
8. Client CPU per event, ours vs pgbench's, at 1 and 4 workers: what explains phase 1 on a
   machine whose few cores the clients share with the server. No target.
9. The per-event log line: 4 workers in the original interval pacing at the default
   LOG_LEVEL=INFO (a line per event, from worker processes) vs LOG_LEVEL=WARNING,
   alternated. No target: it tells what the original's log line costs the stream.
0. A closed loop through the stream's wire: 1 and 4 processes that do nothing but send one
   prepared INSERT (the reference's exam) through
   :class:`~hospital_sim.stream.prepared.PreparedConnection` and wait for its commit before
   sending the next, like pgbench, vs pgbench with the same INSERT and as many clients,
   alternated. No planning, no counting: what a Python client reaches on this machine in
   pgbench's own loop. No target: it reads phase 1, where a worker queues its next
   transaction behind the one in flight and so can pass this loop.

``--quick`` shortens every phase (and seeds 100,000 patients instead of 1,000,000) for a
smoke run. The server is a dedicated embedded PostgreSQL, or HOSPITAL_SIM_BENCH_DSN.
Throughput on one machine drifts (the WAL flush of each commit dominates), so the
throughput phases alternate ours and the reference and compare medians.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo, sql

from _server import DEFAULT_VOLUMES, bench_server  # bench/ is on sys.path when run as a script
from hospital_sim.config import Settings, load_settings
from hospital_sim.db.embedded import bin_dir
from hospital_sim.db.lifecycle import init_database
from hospital_sim.db.seed import seed_database
from hospital_sim.stream.processes import usable_cpus
from hospital_sim.stream.workload import DEFAULT_WEIGHTS

DEFAULTS = DEFAULT_VOLUMES
MAX_RATE = 1e6  # the highest STREAM_RATE: the open-loop schedule is always due

# Runs the stream in a child process (its own interpreter, like pgbench is its own
# program) and prints the snapshot, plus its RSS at the requested moments.
CHILD = """
import json, sys, threading, time
from pathlib import Path
from hospital_sim.cli.scenario_mix import scenario_mix
from hospital_sim.config import load_settings
from hospital_sim.stream.run import run_stream
args = json.loads(sys.stdin.read())  # not argv: the DSN holds a password
s = load_settings(config_dir=Path('/nonexistent'), environ={}, overrides=args['settings']).settings
rss = {}
def sample():
    start = time.monotonic()
    for at in args.get('rss_at', []):
        time.sleep(max(0.0, at - (time.monotonic() - start)))
        for line in open('/proc/self/status'):
            if line.startswith('VmRSS:'):
                rss[str(at)] = int(line.split()[1]) / 1024
threading.Thread(target=sample, daemon=True).start()
summary = run_stream(s, duration=args['duration'], seed=1, scenarios=scenario_mix(s))
snap = summary.snapshot
snap['rss_mb'] = rss
print(json.dumps(snap))
"""


# Phase 0: a bare loop of one prepared INSERT through the stream's wire, for ``duration``
# seconds; prints how many committed.
FLOOR_CHILD = """
import json, random, sys, time
import psycopg
from hospital_sim.stream.prepared import PreparedConnection
args = json.loads(sys.stdin.read())  # not argv: the DSN holds a password
conn = psycopg.connect(args['dsn'], autocommit=True)
wire = PreparedConnection(conn)
rng = random.Random()
patients, query = args['patients'], args['query'].encode()
n = 0
end = time.monotonic() + args['duration']
while time.monotonic() < end:
    wire.execute(query, (rng.randint(1, patients), rng.randint(0, 172800)))
    n += 1
print(n)
"""
FLOOR_INSERT = (
    "INSERT INTO exames (paciente_id, tipo_exame, data, resultado)"
    " VALUES (%s, 'Hemograma completo', now() - %s * interval '1 second', NULL)"
)


def settings_for(dsn: str, **values: Any) -> Settings:
    return load_settings(
        config_dir=Path("/nonexistent"),
        environ={},
        overrides={"database_url": dsn, "log_file": Path(os.devnull), **values},
    ).settings


def new_database(server_dsn: str, name: str, template: str | None = None) -> str:
    """``name`` made anew: empty, or a copy of ``template`` (a run on it starts from
    exactly the rows the template holds)."""
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(create)
    return conninfo.make_conninfo(server_dsn, dbname=name)


def fresh_database(server_dsn: str, name: str, volumes: dict[str, int]) -> str:
    dsn = new_database(server_dsn, name)
    s = settings_for(dsn, **volumes)
    init_database(s)
    seed_database(s, seed=1)
    return dsn


def ours(dsn: str, *, duration: float, workers: int = 1, rate: float | None = MAX_RATE,
         rss_at: list[float] | None = None, model: str = "mix",
         scenarios: str = "", every: float = 100,
         log_level: str = "WARNING") -> dict[str, Any]:  # fmt: skip
    args = {
        "settings": {
            "database_url": dsn,
            "log_file": os.devnull,
            "log_level": log_level,
            "stream_rate": rate,
            "stream_interval_seconds": 0,
            "max_jitter_ms": 0,
            "stream_workers": workers,
            "stream_model": model,
            "stream_scenarios": scenarios,
            "stream_scenario_every": every,
            "scenario_hold_seconds": 3600,  # the report stays open until the run ends
        },
        "duration": duration,
        "rss_at": rss_at or [],
    }
    out = subprocess.run(
        [sys.executable, "-c", CHILD], input=json.dumps(args), capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"stream run failed:\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- pgbench reference ---------------------------------------------------------------------
def pgbench_scripts(folder: Path, volumes: dict[str, int]) -> list[str]:
    """One script per operation, weighted like the stream's default mix.

    The values land where the stream's do, so the server does the same index work: new
    CPFs scattered over the unique index (not appended in order), appointments spread
    over the next 90 days, exams over the last 2, admissions over the last 3, and a
    closed appointment's date moved to now (an index update, as the stream's are).
    """
    n = {k.removeprefix("seed_"): max(v, 1) for k, v in volumes.items()}
    pick = (
        f"\\set p random(1, {n['pacientes']})\n\\set m random(1, {n['medicos']})\n"
        f"\\set c random(1, {n['consultas']})\n\\set e random(1, {n['exames']})\n"
        f"\\set i random(1, {n['internacoes']})\n\\set v random(1, {n['convenios']})\n"
    )
    bodies = {
        "insert_paciente": (
            "INSERT INTO pacientes (nome, nascimento, cpf, telefone, endereco, data_cadastro)"
            " VALUES ('Maria da Silva Santos', '1980-05-04',"
            " 'b' || left(md5(nextval('bench_cpf')::text), 13), '(11) 98765-4321',"
            " 'Rua das Flores, 123 - Centro, São Paulo - SP', now());\n"
            "\\set link random(1, 10)\n\\if :link <= 6\n"
            "INSERT INTO pacientes_convenios (paciente_id, convenio_id, numero_carteira,"
            " validade) VALUES (currval(pg_get_serial_sequence('pacientes', 'id')), :v,"
            " '0000 1234 5678 9012', '2028-12-31');\n\\endif\n"
        ),
        "insert_consulta": (
            "\\set s random(300, 7776000)\n"
            "INSERT INTO consultas (paciente_id, medico_id, data, motivo, status) VALUES"
            " (:p, :m, now() + :s * interval '1 second', 'Consulta de rotina', 'agendada');\n"
        ),
        "insert_exame": (
            "\\set s random(0, 172800)\n"
            "INSERT INTO exames (paciente_id, tipo_exame, data, resultado) VALUES"
            " (:p, 'Hemograma completo', now() - :s * interval '1 second', NULL);\n"
        ),
        "insert_internacao": (
            "\\set s random(0, 259200)\n"
            "INSERT INTO internacoes (paciente_id, data_entrada, data_saida, motivo, quarto)"
            " VALUES (:p, now() - :s * interval '1 second', NULL, 'Pneumonia', '312-B');\n"
        ),
        "update_paciente": ("UPDATE pacientes SET telefone = '(21) 99876-5432' WHERE id = :p;\n"),
        "update_consulta": (
            "UPDATE consultas SET status = 'realizada', data = now() WHERE id = :c;\n"
        ),
        "update_exame": (
            "UPDATE exames SET resultado = 'Dentro dos valores de referência' WHERE id = :e;\n"
        ),
        "update_internacao": (
            "UPDATE internacoes SET data_saida = GREATEST(data_entrada, now()) WHERE id = :i;\n"
        ),
    }
    specs = []
    for op, body in bodies.items():
        path = folder / f"{op}.sql"
        text = pick + ("BEGIN;\n" + body + "COMMIT;\n" if op == "insert_paciente" else body)
        path.write_text(text, encoding="utf-8")
        specs.append(f"{path}@{int(DEFAULT_WEIGHTS[op])}")
    return specs


def pgbench(dsn: str, specs: list[str], *, clients: int, duration: float) -> float:
    params = conninfo.conninfo_to_dict(dsn)
    cmd = [str(bin_dir() / "pgbench"), "-n", "-M", "prepared", "-c", str(clients),
           "-j", str(clients), "-T", str(int(duration)), "-h", str(params["host"]),
           "-p", str(params["port"]), "-U", str(params["user"])]  # fmt: skip
    for spec in specs:
        cmd += ["-f", spec]
    env = {**os.environ, "PGPASSWORD": str(params.get("password") or "")}
    out = subprocess.run([*cmd, str(params["dbname"])], capture_output=True, text=True, env=env)
    match = re.search(r"tps = ([\d.]+)", out.stdout)
    if out.returncode != 0 or match is None:
        raise SystemExit(f"pgbench failed:\n{out.stderr[-2000:]}")
    return float(match.group(1))


SEEDED, RUN = "bench_stream_seeded", "bench_stream_run"


def throughput(server_dsn: str, volumes: dict[str, int], duration: float, rounds: int) -> None:
    """Every run, ours or pgbench's, starts from its own copy of the same seeded database.

    On one shared database each side would run against the rows the other left: pgbench
    updates the seeded ids only, while the stream updates any row in the right state, the
    rows every earlier run inserted included. Spread over a table many times its seeded
    size, those updates touch pages no run touched since the last checkpoint, and each
    such page costs a full-page image in the WAL: more bytes for every commit to flush, on
    one side only.
    """
    seeded = fresh_database(server_dsn, SEEDED, volumes)
    with psycopg.connect(seeded, autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE IF NOT EXISTS bench_cpf")
    folder = Path(tempfile.mkdtemp(prefix="hsim-pgbench-"))
    scripts = pgbench_scripts(folder, volumes)
    runs = [(1, MAX_RATE, "--rate"), (4, MAX_RATE, "--rate"), (4, None, "interval pacing")]
    for workers in (1, 4):
        pacings = [(rate, name) for w, rate, name in runs if w == workers]
        mine: dict[str, list[float]] = {name: [] for _, name in pacings}
        ref = []
        for _ in range(rounds):  # alternate: drift hits both sides alike
            for rate, name in pacings:
                dsn = new_database(server_dsn, RUN, template=SEEDED)
                mine[name].append(ours(dsn, duration=duration, workers=workers, rate=rate)["rate"])
            dsn = new_database(server_dsn, RUN, template=SEEDED)
            ref.append(pgbench(dsn, scripts, clients=workers, duration=duration))
        r = statistics.median(ref)
        target = 0.8 if workers == 1 else 0.85
        for name, rates in mine.items():
            m = statistics.median(rates)
            print(
                f"[1] max throughput, {workers} worker(s), {name}: ours {m:,.0f} events/s; "
                f"pgbench same statements and mix {r:,.0f} tps -> ratio {m / r:.2f} "
                f"(target >= {target}); load average {os.getloadavg()[0]:.2f}"
            )


def rate_accuracy(dsn: str, duration: float) -> None:
    # Enough workers that commit latency (several ms when the disk is busy) never
    # limits the rate: the schedule, not the connection count, sets the pace.
    for rate, workers in ((10.0, 1), (100.0, 2), (1000.0, 16)):
        snap = ours(dsn, duration=duration, workers=workers, rate=rate)
        achieved = snap["events_committed"] / duration
        print(
            f"[2] rate {rate:g}/s for {duration:g} s ({workers} worker(s)): achieved "
            f"{achieved:,.2f}/s -> ratio {achieved / rate:.4f} (target 0.99..1.01), "
            f"max lag {snap['lag_max'] * 1000:.1f} ms"
        )


def flat_cost(server_dsn: str, small_dsn: str, scale: int, duration: float, rounds: int) -> None:
    big = {k: (v * scale if k != "seed_convenios" else v) for k, v in DEFAULTS.items()}
    big_dsn = fresh_database(server_dsn, "bench_stream_big", big)
    small_r, big_r = [], []
    for _ in range(rounds):
        small_r.append(ours(small_dsn, duration=duration)["rate"])
        big_r.append(ours(big_dsn, duration=duration)["rate"])
    s, b = statistics.median(small_r), statistics.median(big_r)
    print(
        f"[3] flat cost: {big['seed_pacientes']:,} patients {b:,.0f} events/s vs default "
        f"volumes {s:,.0f} events/s -> ratio {b / s:.2f} (target >= 0.9)"
    )


def hospital_model(dsn: str, duration: float, rounds: int) -> None:
    mix, hospital = [], []
    for _ in range(rounds):  # alternate: drift hits both sides alike
        mix.append(ours(dsn, duration=duration)["rate"])
        hospital.append(ours(dsn, duration=duration, model="hospital")["rate"])
    m, h = statistics.median(mix), statistics.median(hospital)
    print(
        f"[5] max throughput, 1 worker: --model hospital {h:,.0f} events/s vs the original "
        f"mix {m:,.0f} events/s -> ratio {h / m:.2f} (target >= 0.8)"
    )
    snap = ours(dsn, duration=duration, workers=16, rate=1000.0, model="hospital")
    achieved = snap["events_committed"] / duration
    print(
        f"[5] --model hospital at 1000/s for {duration:g} s (16 workers): achieved "
        f"{achieved:,.2f}/s -> ratio {achieved / 1000:.4f} (target 0.99..1.01); "
        f"substitutions {sum(snap['substitutions'].values())}, beds {snap['beds']}, "
        f"occupied {snap['occupied']}"
    )


def memory(dsn: str, early: float, late: float, *, model: str = "mix") -> None:
    snap = ours(dsn, duration=late + 1, rss_at=[early, late], model=model)
    a, b = snap["rss_mb"][str(early)], snap["rss_mb"][str(late)]
    phase = "[4]" if model == "mix" else "[6] --model hospital"
    print(
        f"{phase} memory at max rate: RSS {b:.1f} MB after {late:g} s vs {a:.1f} MB after "
        f"{early:g} s -> ratio {b / a:.3f} (target <= 1.10); {snap['events_committed']:,} events"
    )


def with_scenarios(dsn: str, duration: float, rounds: int, every: float = 100) -> None:
    for workers in (1, 4):
        plain, mixed, rows, occurred = [], [], [], []
        for _ in range(rounds):  # alternate: drift hits both sides alike
            plain.append(ours(dsn, duration=duration, workers=workers)["rate"])
            snap = ours(dsn, duration=duration, workers=workers, scenarios="all", every=every)
            mixed.append(snap["rate"])
            rows.append(sum(snap["scenario_rows"].values()) / snap["elapsed_seconds"])
            occurred.append(sum(snap["scenario_occurrences"].values()))
        p, m = statistics.median(plain), statistics.median(mixed)
        print(
            f"[7] max throughput, {workers} worker(s): every scenario on (one per {every:g} "
            f"transactions) {m:,.0f} events/s, plus {statistics.median(rows):,.0f} scenario "
            f"row changes/s ({statistics.median(occurred):,.0f} occurrences in {duration:g} s); "
            f"default mix {p:,.0f} events/s -> ratio {m / p:.2f}"
        )


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's ended child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def client_cpu(dsn: str, volumes: dict[str, int], workers: int, short: float, long: float) -> None:
    """Client CPU per event, ours vs pgbench's, at ``workers`` connections.

    Ours is the marginal cost: (CPU of a long run - CPU of a short run) / (events of the
    long - events of the short), so starting the interpreters and loading the pools is left
    out. pgbench's start costs next to nothing. On a machine with few cores the clients
    share them with the server: CPU a client spends is CPU the server does not get.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE IF NOT EXISTS bench_cpf")
    scripts = pgbench_scripts(Path(tempfile.mkdtemp(prefix="hsim-pgbench-")), volumes)
    runs = []
    for duration in (short, long):
        before = children_cpu()
        events = ours(dsn, duration=duration, workers=workers)["events_committed"]
        runs.append((children_cpu() - before, events))
    (cpu_a, ev_a), (cpu_b, ev_b) = runs
    mine = (cpu_b - cpu_a) / max(ev_b - ev_a, 1)
    before = children_cpu()
    tps = pgbench(dsn, scripts, clients=workers, duration=long)
    theirs = (children_cpu() - before) / max(tps * long, 1)
    print(
        f"[8] client CPU per event, {workers} worker(s): ours {mine * 1e6:,.0f} us; pgbench "
        f"{theirs * 1e6:,.0f} us per transaction -> ratio {mine / theirs:.1f}x on "
        f"{usable_cpus()} CPU(s) shared with the server"
    )


def floor(dsn: str, volumes: dict[str, int], duration: float, rounds: int) -> None:
    """A bare Python loop through the stream's wire vs pgbench, same INSERT, alternated."""
    patients = volumes["seed_pacientes"]
    script = Path(tempfile.mkdtemp(prefix="hsim-pgbench-")) / "insert_exame.sql"
    script.write_text(
        f"\\set p random(1, {patients})\n\\set s random(0, 172800)\n"
        + FLOOR_INSERT.replace("%s", ":p", 1).replace("%s", ":s", 1)
        + ";\n",
        encoding="utf-8",
    )
    args = json.dumps(
        {"dsn": dsn, "duration": duration, "patients": patients, "query": FLOOR_INSERT}
    )
    for clients in (1, 4):
        mine, ref = [], []
        for _ in range(rounds):
            loops = [
                subprocess.Popen(
                    [sys.executable, "-c", FLOOR_CHILD],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for _ in range(clients)
            ]
            for loop in loops:  # every loop gets its orders before any is read: side by side
                assert loop.stdin is not None
                loop.stdin.write(args)
                loop.stdin.close()
            counts = []
            for loop in loops:
                assert loop.stdout is not None
                counts.append(int(loop.stdout.read()))
                if loop.wait() != 0:
                    raise SystemExit("a floor loop failed")
            mine.append(sum(counts) / duration)
            ref.append(pgbench(dsn, [str(script)], clients=clients, duration=duration))
        m, r = statistics.median(mine), statistics.median(ref)
        print(
            f"[0] closed loop, {clients} process(es): one prepared INSERT at a time through "
            f"the stream's wire {m:,.0f}/s; pgbench same INSERT {r:,.0f} tps -> ratio "
            f"{m / r:.2f} (no target: one transaction at a time, as pgbench)"
        )


def event_lines(dsn: str, duration: float, rounds: int) -> None:
    """4 workers, interval pacing, with and without the per-event INFO line."""
    rates: dict[str, list[float]] = {"INFO": [], "WARNING": []}
    for _ in range(rounds):
        for level, seen in rates.items():
            seen.append(ours(dsn, duration=duration, workers=4, rate=None, log_level=level)["rate"])
    info, quiet = (statistics.median(rates[k]) for k in ("INFO", "WARNING"))
    print(
        f"[9] per-event log line, 4 workers, interval pacing: LOG_LEVEL=INFO {info:,.0f} "
        f"events/s vs WARNING {quiet:,.0f} -> ratio {info / quiet:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument(
        "--only", default="0123456789", help="phases to run, e.g. --only 13 (default: all)"
    )
    args = parser.parse_args()
    quick = args.quick
    with bench_server("stream", 54332) as server_dsn:
        dsn = fresh_database(server_dsn, "bench_stream", DEFAULTS)
        if "0" in args.only:
            floor(dsn, DEFAULTS, duration=5 if quick else 10, rounds=1 if quick else 3)
        if "1" in args.only:
            throughput(server_dsn, DEFAULTS, duration=5 if quick else 15, rounds=1 if quick else 5)
        if "2" in args.only:
            rate_accuracy(dsn, duration=5 if quick else 30)
        if "3" in args.only:
            flat_cost(server_dsn, dsn, 50 if quick else 500, 5 if quick else 15, 1 if quick else 3)
        if "4" in args.only:
            early, late = (10.0, 60.0) if quick else (60.0, 600.0)
            memory(dsn, early, late)
        if "5" in args.only:
            hospital_model(dsn, duration=5 if quick else 15, rounds=1 if quick else 3)
        if "6" in args.only:
            early, late = (10.0, 60.0) if quick else (60.0, 600.0)
            memory(dsn, early, late, model="hospital")
        if "7" in args.only:
            with_scenarios(dsn, duration=5 if quick else 15, rounds=1 if quick else 3)
        if "8" in args.only:
            for workers in (1, 4):
                client_cpu(dsn, DEFAULTS, workers, 4 if quick else 5, 9 if quick else 20)
        if "9" in args.only:
            event_lines(dsn, duration=5 if quick else 10, rounds=1 if quick else 3)


if __name__ == "__main__":
    main()
