"""The stream: a paced flow of hospital events, counted exactly.

What runs: ``workload`` (picks the next operation from the mix declared in
:mod:`hospital_sim.mix`) and ``operations`` (what each sends, planned in memory from the
``pools``). When: ``pacing``. How: ``session`` (one round trip per event over ``prepared``
statements, in-doubt outcomes resolved; ``failures`` classifies errors). Who: ``worker``
(one connection's loop), ``crews`` (workers as threads) and ``processes`` (workers in child
processes). ``plan`` fixes what every worker shares and when the run started; ``run``
starts, supervises and summarises a run. ``stats`` keeps the counters; ``metrics`` exports
them to Prometheus.
"""
