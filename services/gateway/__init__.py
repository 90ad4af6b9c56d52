"""The field gateway: polls Modbus TCP registers and OPC UA nodes mapped to the network model's tags, stores every
reading in a durable local queue, and forwards them to telemetry over ``PublishStream``, removing them only after
telemetry's ack. ``python -m services.gateway --config GATEWAY.yaml``; library use: ``Gateway(load_config(path))``
(services/gateway/bootstrap.py)."""
