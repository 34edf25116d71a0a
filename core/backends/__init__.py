"""Backends start, stop, pause and resume trials and collect their results."""
