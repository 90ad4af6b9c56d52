"""Test-wide fixtures. Real infrastructure (Kafka broker, PostgreSQL) lives in tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.postgres",
]
