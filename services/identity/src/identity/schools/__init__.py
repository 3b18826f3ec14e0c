"""Schools: the tenants of the platform (platform administrators create them)."""
