"""Bringing memories in from other memory servers."""
