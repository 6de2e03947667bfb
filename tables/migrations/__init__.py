"""Herald's schema migrations, applied in name order by :func:`tables.database.migrate`.

Each module is named ``mNNNN_what.py`` and defines ``async def forwards(engine)``. A migration
never imports :mod:`tables.db`: it keeps its own frozen copy of the tables it touches, so it
means the same thing however the current definitions change. Never edit an applied migration;
add the next one.
"""
