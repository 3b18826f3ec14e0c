"""The people change feed that every other service follows into its replica tables."""
