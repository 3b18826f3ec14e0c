"""Incidents: the school's e-safety incident log, its actions, evidence and history, and LA reporting."""
