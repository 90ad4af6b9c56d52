"""How every Pipewarden Kafka client connects: PLAINTEXT, TLS, or TLS with SASL/SCRAM, from one set of settings.

``KafkaSecurity.from_env()`` reads ``PIPEWARDEN_KAFKA_SECURITY_PROTOCOL`` and its companions (see
``settings.py``); ``aiokafka_kwargs()`` / ``kafka_python_kwargs()`` / ``faust_credentials()`` turn them into
the keyword arguments of the three client libraries the services use. Passwords come from files, never argv.
"""

from services.kafkaconn.settings import (
    ENV_PREFIX,
    PROTOCOLS,
    SASL_MECHANISMS,
    KafkaSecurity,
    KafkaSecurityError,
)

__all__ = ["ENV_PREFIX", "PROTOCOLS", "SASL_MECHANISMS", "KafkaSecurity", "KafkaSecurityError"]
