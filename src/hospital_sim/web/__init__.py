"""The live web dashboard: an adapter over the streams' /metrics and the database.

Nothing here writes to the database. :mod:`.collect` polls on a timer and keeps a bounded
history; :mod:`.app` serves the page and pushes each snapshot as a server-sent event.
"""
