"""The pipeline network model: one source of truth for segments, nodes, instruments and gateways."""
