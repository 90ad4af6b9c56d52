"""The console's use cases on ports (``ports.py``): sign-in, the live fan-out of the Watch feed, what a
role may do on a page. Imports no adapter and no entry point."""
