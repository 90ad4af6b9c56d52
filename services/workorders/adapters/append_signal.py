"""Appends announced by PostgreSQL: a NOTIFY in every append transaction, and a LISTEN thread that hears it.

The background loops (projection, outbox relay, the Watch feed) used to poll the event store every 50 ms
to 500 ms, idle or not: 20 write transactions a second from the projection alone, each also costing a
PostgreSQL backend. Now they sleep until something is appended:

- in-process appends already call ``ChangeNotifier.notify()`` (service_layer.repository);
- appends by another process (``workorders ctl``, a second replica, a rebuild) are announced by the
  database itself: ``install_append_notify`` adds a statement-level trigger on the event store's events
  table that runs ``pg_notify`` in the append's own transaction, so the notification is delivered exactly
  when the events become visible (at commit) and never for an append that rolled back;
- ``AppendListener`` holds one dedicated connection that LISTENs on that channel and calls ``on_append``
  (the notifier's ``notify``) for each notification.

The event store (services.eventstore) offers no notification of its own; the trigger is workorders' DDL on
its own database, installed idempotently at start-up. SQLite has no LISTEN/NOTIFY: there the loops keep
their bounded back-off poll (entrypoints.runtime.Backoff), which stays the safety net on PostgreSQL too
(a notification lost while the listener reconnects).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)

CHANNEL = "pipewarden_workorders_appended"
_FUNCTION = "pipewarden_workorders_notify_appended"
_TRIGGER = "pipewarden_workorders_notify_appended"
_EVENTS_TABLE = "eventstore_events"
# Serialises concurrent installers (serve and ctl starting together): CREATE OR REPLACE FUNCTION racing
# itself fails with "tuple concurrently updated".
_INSTALL_LOCK_KEY = 0x70775F6E6F7466  # "pw_notf"


def supports_notify(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"


def install_append_notify(engine: sa.Engine) -> bool:
    """Add the NOTIFY trigger to the events table (idempotent); False on a backend without LISTEN/NOTIFY.

    FOR EACH STATEMENT: one notification per append (an append inserts its events in one statement), and
    PostgreSQL folds identical notifications of one transaction into one.
    """
    if not supports_notify(engine):
        return False
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INSTALL_LOCK_KEY})
        table = conn.execute(sa.text("SELECT to_regclass(:name)"), {"name": _EVENTS_TABLE}).scalar_one()
        if table is None:
            raise RuntimeError(f"the event store's table {_EVENTS_TABLE} is missing: create the store's schema first")
        present = conn.execute(
            sa.text("SELECT 1 FROM pg_trigger WHERE tgname = :name AND tgrelid = to_regclass(:table)"),
            {"name": _TRIGGER, "table": _EVENTS_TABLE},
        ).first()
        if present is None:
            conn.execute(sa.text(
                f"CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
            ))
            conn.execute(sa.text(
                f"CREATE TRIGGER {_TRIGGER} AFTER INSERT ON {_EVENTS_TABLE} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()"
            ))
    return True


class AppendListener:
    """LISTENs on ``CHANNEL`` on a dedicated connection and calls ``on_append`` for each notification.

    A lost connection (PostgreSQL restarted) is re-opened with a growing pause (0.5 s to 10 s); after every
    (re)connect ``on_append`` is called once, for whatever was appended while nobody listened.
    """

    def __init__(
        self,
        engine: sa.Engine,
        on_append: Callable[[], None],
        stop: threading.Event,
        *,
        wait_s: float = 1.0,
        retry_min_s: float = 0.5,
        retry_max_s: float = 10.0,
    ) -> None:
        if not supports_notify(engine):
            raise ValueError(f"LISTEN/NOTIFY needs PostgreSQL, not {engine.dialect.name}")
        self.engine = engine
        self.on_append = on_append
        self.stop = stop
        self.wait_s = wait_s  # how long one wait for a notification lasts: the stop flag is checked between
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.listening = threading.Event()  # set while a LISTEN connection is open (tests, health)
        self.notifications = 0

    def _connect(self) -> Any:
        import psycopg

        # The engine's own connect arguments: same server, user, password and options (search_path).
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        conn = psycopg.connect(*cargs, **{**cparams, "autocommit": True})
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    def run(self) -> None:
        pause = self.retry_min_s
        while not self.stop.is_set():
            try:
                conn = self._connect()
            except Exception as error:
                log.warning("cannot LISTEN for appends (polling meanwhile): %s", error)
                self.stop.wait(pause)
                pause = min(pause * 2, self.retry_max_s)
                continue
            pause = self.retry_min_s
            self.listening.set()
            self.on_append()
            try:
                while not self.stop.is_set():
                    heard = sum(1 for _ in conn.notifies(timeout=self.wait_s, stop_after=1))
                    if heard:
                        self.notifications += heard
                        self.on_append()
            except Exception as error:
                if not self.stop.is_set():
                    log.warning("the LISTEN connection for appends broke (polling meanwhile): %s", error)
            finally:
                self.listening.clear()
                try:
                    conn.close()
                except Exception:  # already broken: nothing to release
                    log.debug("closing the LISTEN connection failed", exc_info=True)
