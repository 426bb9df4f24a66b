"""
msync.config package.
"""
