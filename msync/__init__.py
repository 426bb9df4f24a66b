"""
msync: keep IMAP mailboxes and local Maildirs in sync, compatible with mbsync.
"""

__version__ = "0.1.0"
