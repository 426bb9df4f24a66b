"""
msync.sync package.
"""
