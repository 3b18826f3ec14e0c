"""Password reset by a single-use code (e-mailed, or handed over by the office); class-managed pupils."""
