"""The stream: a paced flow of hospital events, counted exactly.

What runs: ``workload`` (the operations and their weights) and ``operations`` (what each
sends, drawn from the in-memory ``pools``). When: ``pacing``. How: ``session`` (one round
trip per event over ``prepared`` statements, retries, in-doubt outcomes). Who: ``worker``
(one connection's loop), ``crews`` (workers as threads) and ``processes`` (workers in child
processes). ``plan`` fixes what every worker shares; ``run`` starts, supervises and
summarises a run. ``stats`` keeps the counters; ``metrics`` exports them to Prometheus.
"""
