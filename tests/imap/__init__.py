"""
Tests: imap.
"""
