"""Devices: the school hardware inventory, staff and visitor devices, and pupil phones in custody."""
