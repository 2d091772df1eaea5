"""Tests mirror the modules: tests/test_<module>.py."""
