"""Which failures of an event-store call are worth retrying: the database's, not the caller's.

A consumer that retries everything stalls forever on a record that can never be stored; one that retries
nothing turns a database restart into dead letters. The line: the connection, the pool, a lock or a
serialisation conflict, and a stream that another writer moved on (``ConcurrencyError``: reload and retry)
are transient; every other error (invalid input, a refused rule, a bug) will fail the same way again.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from services.eventstore.errors import ConcurrencyError

_TRANSIENT = (
    ConcurrencyError,
    sa_exc.OperationalError,  # connection refused or lost, lock timeout, serialisation failure, database locked
    sa_exc.InterfaceError,  # the driver's connection went away under it
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no pooled connection within the pool timeout
    ConnectionError,
    TimeoutError,
)


def is_transient_error(error: BaseException) -> bool:
    """True when the same call may succeed later without any change to its input."""
    return isinstance(error, _TRANSIENT)
