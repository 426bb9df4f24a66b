"""
msync.imap package.
"""
