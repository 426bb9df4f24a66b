"""
Tests: integration.
"""
