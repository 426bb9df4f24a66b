"""
Tests: config.
"""
