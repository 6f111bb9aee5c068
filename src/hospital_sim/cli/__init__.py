"""The command line: one Typer module per command group, each a thin layer over the library."""
