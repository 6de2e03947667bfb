"""What can go wrong with Herald's database, and what an operator should do about it.

Every error raised by :mod:`tables` derives from :class:`HeraldTableError`, so an entry point
can report any of them with one ``except`` and a clear message instead of a driver traceback.
"""

from __future__ import annotations


class HeraldTableError(Exception):
    """Base class of every database error Herald raises itself."""


class UnsupportedDatabaseUrl(HeraldTableError):
    """``HERALD_DATABASE_URL`` names a database Herald cannot use.

    Use ``sqlite:///absolute/path/herald.sqlite3`` for a local file, or
    ``postgresql://user:password@host:port/database`` for PostgreSQL; or leave it unset to get
    SQLite under ``HERALD_DATA_DIR``.
    """


class DatabaseUnavailable(HeraldTableError):
    """The database could not be reached or refused the connection.

    Check that PostgreSQL is running and reachable from this host, that the user, password and
    database in ``HERALD_DATABASE_URL`` are right, and for SQLite that the directory is writable.
    """


class MigrationFailed(HeraldTableError):
    """A schema migration failed; it was rolled back together with every migration of the run.

    The database is left at the last version that applied completely. Read the cause in the
    message, fix it (permissions to create tables, a table created by hand with the same name),
    then run ``herald db migrate`` again.
    """


class WorkspaceNotFound(HeraldTableError):
    """No workspace has this id. Create it first (``herald keys create --workspace NAME``
    creates the workspace when it does not exist yet)."""


class PlanNotFound(HeraldTableError):
    """No plan has this name. List plans with ``herald plans list``; create one with
    ``herald plans set NAME --key-rate ... --key-burst ... --send-rate ... --send-burst ...``."""


class KeyLimitReached(HeraldTableError):
    """The workspace already has as many live keys as Herald allows; revoke unused ones."""


class KeyAlreadyRotated(HeraldTableError):
    """The key was already rotated out; rotate its replacement (``replaced_by``) instead."""
