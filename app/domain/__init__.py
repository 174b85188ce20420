"""Domain values, use cases and the error tree. Nothing here knows HTTP or a vendor library."""
