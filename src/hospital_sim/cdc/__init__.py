"""Change data capture, in two halves that share only the column types.

- ``capture/``: the source side. Publication, slots and role (``setup``), the Kafka Connect
  configuration (``connector``), the ``pgoutput`` decoder, the Debezium-shaped envelope and
  the built-in capture engine; ``status`` reads slot lag.
- ``verify/``: the proof side. Change-log parsing (ours and Debezium's JSON), replay by key,
  comparison with the source (live tables or CSV dumps) and ``cdc diff``.
- ``schema_types``, ``values``, ``lsn``: the hospital columns' types and canonical values,
  and LSN helpers, which both halves share.

``hospital_sim.demo``, above this package and ``stream``, runs the whole story: seed,
capture, stream, verify.
"""
