"""Pupil phones handed in or confiscated, with their chain of custody and searches."""
