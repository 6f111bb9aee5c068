"""The capture side: make the source ready for CDC, decode pgoutput, write change logs.

``setup`` (publication, replica identity, replication role), ``slots``, ``connector``
(Debezium's Kafka Connect configuration), ``status`` (slot lag), ``pgoutput`` (the protocol
decoder, over the message types of ``messages``), ``envelope`` (Debezium's event shape),
``sink`` (the change log both capture engines append to), ``builtin`` (``cdc capture``) and
``debezium`` (the embedded engine).
"""
