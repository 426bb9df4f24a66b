"""
Tests: sync.
"""
