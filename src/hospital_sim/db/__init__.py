"""Everything that talks to the server as a whole, and never invents data.

``connect`` (the target, connecting with backoff, DSN redaction, server facts), ``embedded``
and ``server`` (the zero-setup PostgreSQL and starting it on demand), ``schema/`` (the SQL
files), ``lifecycle`` (init, reset, counts), ``seed`` (COPY of generated rows) and
``doctor`` (what ``doctor`` and ``test-connection`` check).
"""
