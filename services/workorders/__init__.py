"""Work orders: event-sourced leak work orders, hazard rectification and the pipeline replacement programme."""
