"""The command line: one Typer module per command group, each a thin layer over the library.

``app`` assembles the groups; ``common`` loads settings and maps errors to exit codes;
``live`` is the stream's terminal view; ``slot_metrics`` hands the CDC slots' lag to the
stream's /metrics (the only module that joins those two layers).
"""
