"""Synthetic demo patients with realistic medication lists. Never real people: synthetic national ids only."""
