"""Opening files that minitl reads: regular files only, never blocking on anything else.

A FIFO opened for reading waits for a writer forever, ``/dev/zero`` never ends, and a
directory cannot be read at all; a loader handed one of them must say so at once. The
file is opened without blocking (``O_NONBLOCK``, which changes nothing for a regular
file) and its type checked on the open descriptor, so there is no window between the
check and the read.
"""

from __future__ import annotations

import os
import stat

_KINDS = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket")]


def open_regular(path, error, what: str):
    """``(file, size)`` for reading ``path``, or ``error`` if it is not a regular file.

    ``what`` starts the message (``"checkpoint"``, ``"IDX file"``). OSErrors of the
    open itself (a missing file, no permission) propagate for the caller to word.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a file")
            raise error(f"{what} {os.fspath(path)!r}: is {kind}, not a regular file")
        return os.fdopen(fd, "rb"), info.st_size
    except BaseException:
        os.close(fd)
        raise
