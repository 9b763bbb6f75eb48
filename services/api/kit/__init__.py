"""Generic machinery of the read side: nothing here knows about contracts.

``statements`` compiles SQLAlchemy Core statements once per shape and runs them through asyncpg,
``explain`` is an ``EXPLAIN (FORMAT JSON)`` construct, ``money`` rounds bounds to whole cents,
``like`` escapes LIKE patterns.
"""
