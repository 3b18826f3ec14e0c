"""The e-safety platform's API gateway: the one door outside systems use to reach the services."""
