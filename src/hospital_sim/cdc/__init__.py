"""Change data capture tools: pgoutput decoding, Debezium-shaped events, replay and verify."""

from hospital_sim.cdc.compare import VerifyReport
from hospital_sim.cdc.events import ChangeEvent, ChangeLogError
from hospital_sim.cdc.psql_csv import load_expected_csv_dir
from hospital_sim.cdc.verify import verify_changelog

__all__ = [
    "ChangeEvent",
    "ChangeLogError",
    "VerifyReport",
    "load_expected_csv_dir",
    "verify_changelog",
]
