"""Run one call in a forked child under a wall-clock limit and a memory limit.

A loader that hangs (a FIFO opened for reading), reads forever (``/dev/zero``) or
allocates without bound (a gzip bomb) must not take the test run, or the machine, with
it. :func:`run_bounded` forks, caps the child's address space at what it already uses
plus ``memory`` bytes (``RLIMIT_AS``), runs ``fn``, and reports back how it ended:

* ``Outcome("returned", value=fn's result made picklable by ``summarise``)``
* ``Outcome("raised", error=type name, minitl=True if a MinitlError, message=...)``
* ``Outcome("timeout")`` when the child had not finished after ``timeout`` seconds
  (it is then killed), ``Outcome("died")`` when it ended without a word (a crash).

The limits are deliberately generous (seconds and hundreds of MiB for inputs of a few
KiB): they catch a hang or a bomb, never a slow machine.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import traceback

import pytest

TIMEOUT = 60.0
MEMORY = 768 * 2**20


@dataclasses.dataclass
class Outcome:
    how: str
    value: object = None
    error: str = ""
    minitl: bool = False
    message: str = ""
    trace: str = ""

    def __str__(self):
        if self.how == "raised":
            return f"raised {self.error}: {self.message}\n{self.trace}"
        return self.how


def _address_space() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(conn, fn, summarise, memory):
    try:
        import resource

        limit = _address_space() + memory
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        from minitl.errors import MinitlError

        try:
            value = fn()
        except BaseException as exc:  # report every way the call can end
            conn.send(Outcome("raised", error=type(exc).__name__,
                              minitl=isinstance(exc, MinitlError),
                              message=str(exc), trace=traceback.format_exc(limit=-3)))
        else:
            conn.send(Outcome("returned", value=summarise(value)))
    except BaseException as exc:  # pragma: no cover - only if the pipe itself fails
        sys.stderr.write(f"bounded child: {exc!r}\n")
    finally:
        conn.close()
        os._exit(0)


def run_bounded(fn, *, summarise=lambda v: None, timeout: float = TIMEOUT,
                memory: int = MEMORY) -> Outcome:
    """How ``fn()`` ends in a forked child limited to ``timeout`` s and ``memory`` more bytes."""
    if not sys.platform.startswith("linux"):
        pytest.skip("run_bounded needs fork, /proc and RLIMIT_AS (Linux)")
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, fn, summarise, memory), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(timeout):
            return Outcome("timeout")
        try:
            return receive.recv()
        except EOFError:
            return Outcome("died")
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()


def expect_named_error(outcome: Outcome, *words: str) -> None:
    """Assert the call raised a MinitlError whose message holds every one of ``words``."""
    assert outcome.how == "raised" and outcome.minitl, f"expected a named error, got {outcome}"
    for word in words:
        assert word in outcome.message, f"{word!r} not in the message: {outcome.message}"
