"""One SASL_SSL (SCRAM-SHA-512) broker for every test of this package (~20 s to format and start)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.kafka_tls import SecureKafkaBroker, start_sasl_ssl_broker


@pytest.fixture(scope="package")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafkaBroker]:
    started = start_sasl_ssl_broker(tmp_path_factory.mktemp("kafka-sasl-ssl"))
    try:
        yield started
    finally:
        started.stop()
