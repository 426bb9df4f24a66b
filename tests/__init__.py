"""
Tests for msync.
"""
