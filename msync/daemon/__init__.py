"""
The msync daemon (C{twistd msync}, C{msyncd}): push by IMAP IDLE, local
change watching, periodic and quick rounds, hooks and a clean life cycle,
all over the same configuration, state files and locks as C{msync}.
"""
