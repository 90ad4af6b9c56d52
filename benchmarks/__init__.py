"""In-process benchmarks; each writes reports/*.json (ratios against a baseline measured in the same run)."""
