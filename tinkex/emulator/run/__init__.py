"""Running the emulator: in a thread, in the foreground, in-process or as a child process.

* :mod:`.server` binds the socket and runs uvicorn (:class:`~.server.Emulator`,
  a context manager for tests; the foreground loop of ``python -m
  tinkex.emulator``);
* :mod:`.inprocess` serves the ASGI application through a transport, no socket;
* :mod:`.process` starts ``python -m tinkex.emulator`` as a child process and
  waits until it listens;
* :mod:`.pytest_plugin` is the ``tinkex_emulator`` fixture (entry point
  ``pytest11``).

It may import every other part of the emulator; only the package's entry points
(:mod:`tinkex.emulator`, ``__main__``) import it. This package imports nothing
itself: :mod:`.process` and :mod:`.pytest_plugin` load in any test process
without the server's dependencies.
"""
