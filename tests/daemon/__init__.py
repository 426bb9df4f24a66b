"""
Tests for L{msync.daemon}.
"""
