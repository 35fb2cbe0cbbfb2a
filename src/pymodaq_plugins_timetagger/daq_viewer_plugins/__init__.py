"""Viewer plugins of the Time Tagger package."""
