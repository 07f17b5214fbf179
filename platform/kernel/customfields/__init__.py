"""Fields an administrator adds to a resource without code; see `service`."""
