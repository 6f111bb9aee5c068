"""The verify side: prove what a change log holds against the source.

``events`` parses change logs (ours and Debezium's JSON, with or without schemas) with the
column value decoders of ``decoders``, ``replay`` rebuilds the tables by key, ``compare``
reports missing, extra and differing rows (in the types of ``report``), ``rows`` verifies
against rows in memory, ``check`` is ``cdc verify`` (the live source or CSV dumps read by
``psql_csv``), ``proof`` matches every event with a reference log (``cdc verify
--reference``) and ``proof_report`` holds what it finds, and ``diff`` is ``cdc diff``.
"""

from hospital_sim.cdc.verify.compare import VerifyReport
from hospital_sim.cdc.verify.events import ChangeEvent, ChangeLogError
from hospital_sim.cdc.verify.psql_csv import load_expected_csv_dir
from hospital_sim.cdc.verify.rows import verify_changelog

__all__ = [
    "ChangeEvent",
    "ChangeLogError",
    "VerifyReport",
    "load_expected_csv_dir",
    "verify_changelog",
]
