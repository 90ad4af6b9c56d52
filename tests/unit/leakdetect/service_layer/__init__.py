"""Service-layer tests of leakdetect: batch processing, recovery, alarm lifecycle, query API, garbage in."""
