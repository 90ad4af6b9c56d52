"""Edges of the work orders service: JWT tokens, protobuf alarm conversion, Kafka, SQL read models."""
