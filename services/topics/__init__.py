"""Kafka topic registry and protobuf codecs shared by every service."""
