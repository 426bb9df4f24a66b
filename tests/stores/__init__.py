"""
Tests: stores.
"""
