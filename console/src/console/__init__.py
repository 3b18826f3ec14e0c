"""The console: the school's staff and parents use the platform in a browser (ARCHITECTURE.md)."""
