"""Use cases of the leak detection service: batch processing, recoverable segment state, alarm lifecycle."""
