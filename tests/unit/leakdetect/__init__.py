"""leakdetect tests by layer: domain/ (kernels, configuration), service_layer/, adapters/."""
