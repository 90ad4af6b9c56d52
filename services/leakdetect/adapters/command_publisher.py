"""Learning commands onto leak.learning-commands.v1 (kafka-python's producer: the query API's handlers run in
gRPC's thread pool, not on faust's event loop). Keyed by segment id with Kafka's default partitioner, as the
readings are, so a segment's commands land in the partition number its readings do."""

from __future__ import annotations

import threading
from typing import Any

from services.contracts.pipewarden.leakdetect.v1 import learning_pb2
from services.kafkaconn import KafkaSecurity
from services.leakdetect.service_layer.learning import CommandPublishError
from services.topics import LEAK_LEARNING_COMMANDS, encode


class KafkaCommandPublisher:
    def __init__(self, bootstrap_servers: str, security: KafkaSecurity | None = None, timeout_s: float = 10.0
                 ) -> None:
        self._bootstrap = bootstrap_servers
        self._security = security or KafkaSecurity()
        self._timeout_s = timeout_s
        self._producer: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        from kafka import KafkaProducer

        with self._lock:
            if self._producer is None:
                timeout_ms = max(1_000, int(self._timeout_s * 1000))
                self._producer = KafkaProducer(
                    bootstrap_servers=self._bootstrap.split(","), client_id="leakdetect-query", acks="all",
                    max_block_ms=timeout_ms, request_timeout_ms=timeout_ms, **self._security.kafka_python_kwargs())
            return self._producer

    def __call__(self, cmd: learning_pb2.LearningCommand) -> None:
        """Publish and wait for the broker's acknowledgement; CommandPublishError when it does not come."""
        from kafka.errors import KafkaError

        try:
            self._get().send(LEAK_LEARNING_COMMANDS.name, key=cmd.segment_id.encode(), value=encode(cmd)).get(
                timeout=self._timeout_s)
        except KafkaError as exc:
            raise CommandPublishError(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=self._timeout_s)
                self._producer = None
