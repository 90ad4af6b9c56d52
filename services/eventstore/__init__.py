"""An append-only SQLAlchemy event store with optimistic concurrency, snapshots, outbox and projections."""
