"""
The C{twistd msync} plugin: the msync daemon as a twistd service.
"""

from twisted.application.service import ServiceMaker

msync = ServiceMaker(
    "msync",
    "msync.service",
    "Keep IMAP mailboxes and Maildirs in sync (mbsync-compatible daemon)",
    "msync",
)
