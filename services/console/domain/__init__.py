"""The console's view models: pure functions from API facts (and a given time) to what a page shows.

No I/O and no clock: the time is passed in (``now_unix_us``), so every countdown is testable.
"""
