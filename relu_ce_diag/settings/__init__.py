"""Settings that feed the pipeline from the side: cells, user functions, data files, YAML
grids and sweep steps, each validated before any work."""
