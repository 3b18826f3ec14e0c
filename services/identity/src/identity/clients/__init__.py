"""OAuth clients: outside systems (MIS, MLE, LA scripts) and the platform's own services."""
