"""hospital-sim: a realistic hospital OLTP simulator for PostgreSQL CDC testing.

The tree follows the data flow, each layer importing only those below it (a test checks):
``config``, ``errors``, ``logs``, ``tables``, ``mix``, ``thresholds`` and ``signals`` at the
bottom; ``generate`` (pure data); ``db`` (the server); ``stream`` (the paced workload),
``cdc`` (capture and verify) and ``scenarios``; ``web`` (the dashboard); ``cli`` on top.
"""

__version__ = "0.1.0"
