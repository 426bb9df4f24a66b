"""
Tests: fakes.
"""
