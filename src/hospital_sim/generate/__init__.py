"""Pure, seeded data generation for the hospital schema; never touches the database.

``generate_tables`` produces the seed data set in load order and in bounded memory;
``RowFactory`` produces single rows for the live stream. Below them: ``documents``,
``people``, ``places``, ``addresses``, ``staff``, ``cohort``, ``coverage``, ``encounters``,
``stays``, ``results``, ``vocab`` (weighted vocabularies), ``timeline`` (when things happen)
and ``draw`` (the weighted draws every module shares).
"""

from hospital_sim.generate.dataset import (
    TABLE_COLUMNS,
    Volumes,
    check_volumes,
    generate_tables,
)
from hospital_sim.generate.rows import RowFactory
from hospital_sim.generate.staff import LOOKUP_CONVENIOS
from hospital_sim.tables import TABLES

__all__ = [
    "LOOKUP_CONVENIOS",
    "TABLES",
    "TABLE_COLUMNS",
    "RowFactory",
    "Volumes",
    "check_volumes",
    "generate_tables",
]
