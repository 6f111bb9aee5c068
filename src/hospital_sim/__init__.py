"""hospital-sim: a realistic hospital OLTP simulator for PostgreSQL CDC testing."""

__version__ = "0.1.0"
