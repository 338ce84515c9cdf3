"""Settings and error handling of the HTTP service."""
