"""The seven hospital tables as the CDC tools see them: columns, PostgreSQL types, key.

This is the one place the verifier learns which column holds a date, a timestamp or a
bigint, so that a value can be decoded from any Debezium encoding (epoch days, epoch
micros, ISO strings...) or from pgoutput text into one canonical Python value:
``int``, ``str``, ``datetime.date``, naive ``datetime.datetime`` (UTC) or ``None``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "KNOWN_TABLE_SCHEMAS",
    "PRIMARY_KEY",
    "SCENARIO_TABLE_SCHEMAS",
    "TABLE_NAMES",
    "TABLE_SCHEMAS",
    "TYPE_BY_OID",
    "Column",
    "PgType",
    "TableSchema",
    "table_schema",
]

PRIMARY_KEY: Final = "id"


class PgType(enum.Enum):
    """The PostgreSQL column types the hospital schema uses, with their type OIDs."""

    BIGINT = "bigint"
    VARCHAR = "varchar"
    DATE = "date"
    TIMESTAMP = "timestamp"

    @property
    def oid(self) -> int:
        """The ``pg_type`` OID, as sent in pgoutput Relation messages."""
        return _OID_OF[self]


_OID_OF: Final[Mapping[PgType, int]] = MappingProxyType(
    {PgType.BIGINT: 20, PgType.VARCHAR: 1043, PgType.DATE: 1082, PgType.TIMESTAMP: 1114}
)

# Type OIDs whose text form decodes to one of our canonical kinds. int2/int4 and
# text/bpchar are folded in because their canonical Python values are the same.
TYPE_BY_OID: Final[Mapping[int, PgType]] = MappingProxyType(
    {
        20: PgType.BIGINT,  # int8
        21: PgType.BIGINT,  # int2
        23: PgType.BIGINT,  # int4
        25: PgType.VARCHAR,  # text
        1042: PgType.VARCHAR,  # bpchar
        1043: PgType.VARCHAR,  # varchar
        1082: PgType.DATE,  # date
        1114: PgType.TIMESTAMP,  # timestamp without time zone
    }
)


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a hospital table."""

    name: str
    type: PgType
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class TableSchema:
    """A hospital table: its columns in table order; the key is always ``id``."""

    name: str
    columns: tuple[Column, ...]

    @property
    def primary_key(self) -> str:
        return PRIMARY_KEY

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def types(self) -> Mapping[str, PgType]:
        """Column name -> type."""
        return {c.name: c.type for c in self.columns}

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None


def _table(name: str, *columns: tuple[str, PgType, bool]) -> TableSchema:
    cols = [Column("id", PgType.BIGINT, nullable=False)]
    cols += [Column(n, t, nullable) for n, t, nullable in columns]
    cols += [
        Column("created_at", PgType.TIMESTAMP, nullable=False),
        Column("updated_at", PgType.TIMESTAMP, nullable=False),
    ]
    return TableSchema(name, tuple(cols))


_B, _V, _D, _T = PgType.BIGINT, PgType.VARCHAR, PgType.DATE, PgType.TIMESTAMP
_NULL, _NOT_NULL = True, False

# In foreign-key order: a table only references tables listed before it.
TABLE_SCHEMAS: Final[Mapping[str, TableSchema]] = MappingProxyType(
    {
        t.name: t
        for t in (
            _table(
                "pacientes",
                ("nome", _V, _NOT_NULL),
                ("nascimento", _D, _NOT_NULL),
                ("cpf", _V, _NOT_NULL),
                ("telefone", _V, _NULL),
                ("endereco", _V, _NULL),
                ("data_cadastro", _T, _NOT_NULL),
            ),
            _table(
                "medicos",
                ("nome", _V, _NOT_NULL),
                ("crm", _V, _NOT_NULL),
                ("especialidade", _V, _NOT_NULL),
                ("telefone", _V, _NULL),
            ),
            _table(
                "convenios",
                ("nome", _V, _NOT_NULL),
                ("cnpj", _V, _NOT_NULL),
                ("tipo", _V, _NOT_NULL),
                ("cobertura", _V, _NULL),
            ),
            _table(
                "pacientes_convenios",
                ("paciente_id", _B, _NOT_NULL),
                ("convenio_id", _B, _NOT_NULL),
                ("numero_carteira", _V, _NULL),
                ("validade", _D, _NULL),
            ),
            _table(
                "consultas",
                ("paciente_id", _B, _NOT_NULL),
                ("medico_id", _B, _NOT_NULL),
                ("data", _T, _NOT_NULL),
                ("motivo", _V, _NOT_NULL),
                ("status", _V, _NOT_NULL),
            ),
            _table(
                "exames",
                ("paciente_id", _B, _NOT_NULL),
                ("tipo_exame", _V, _NOT_NULL),
                ("data", _T, _NOT_NULL),
                ("resultado", _V, _NULL),
            ),
            _table(
                "internacoes",
                ("paciente_id", _B, _NOT_NULL),
                ("data_entrada", _T, _NOT_NULL),
                ("data_saida", _T, _NULL),
                ("motivo", _V, _NOT_NULL),
                ("quarto", _V, _NULL),
            ),
        )
    }
)

TABLE_NAMES: Final[tuple[str, ...]] = tuple(TABLE_SCHEMAS)

# Tables a scenario creates next to the hospital's (hospital_sim.scenarios), so that a log
# carrying them can be verified too: nightly-cleanup's work queue, emptied by TRUNCATE, and
# long-report's stored reports.
SCENARIO_TABLE_SCHEMAS: Final[Mapping[str, TableSchema]] = MappingProxyType(
    {
        "relatorios_mensais": TableSchema(
            "relatorios_mensais",
            (
                Column("id", _B, nullable=False),
                Column("mes", _D, nullable=False),
                Column("conteudo", _V, nullable=False),
                Column("aberto_em", _T, nullable=False),
                Column("gerado_em", _T, nullable=False),
            ),
        ),
        "fila_integracao": TableSchema(
            "fila_integracao",
            (
                Column("id", _B, nullable=False),
                Column("exame_id", _B, nullable=False),
                Column("destino", _V, nullable=False),
                Column("payload", _V),
                Column("criado_em", _T, nullable=False),
            ),
        ),
    }
)

KNOWN_TABLE_SCHEMAS: Final[Mapping[str, TableSchema]] = MappingProxyType(
    {**TABLE_SCHEMAS, **SCENARIO_TABLE_SCHEMAS}
)


def table_schema(name: str) -> TableSchema | None:
    """The schema of hospital table ``name``, or None when it is not one of the seven."""
    return TABLE_SCHEMAS.get(name)
