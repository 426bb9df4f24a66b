"""
msync.stores package.
"""
