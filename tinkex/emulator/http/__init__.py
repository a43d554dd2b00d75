"""The emulator's HTTP face: everything that knows about requests, responses and routes.

* :mod:`.app` builds the Starlette application from the operations of the
  compiled document (:mod:`.served`): parameter and body checks, errors as
  ``{"detail": ...}`` answers;
* :mod:`.handlers` holds one handler per ``operationId``, :mod:`.services`
  what they share (state, compute, faults, auth) and the rules several of them
  apply;
* :mod:`.encoding` decodes protobuf bodies and encodes protobuf results;
* :mod:`.auth` and :mod:`.signing` say who is calling (API keys, JWTs, signed
  tokens), :mod:`.archive` serves checkpoint archives behind signed URLs;
* :mod:`.faults` injects the failures the real service has (5xx, 429, dropped
  connections, pauses);
* :mod:`.console` is the web console.

It may import :mod:`tinkex.emulator.state`, :mod:`tinkex.emulator.compute` and the
shared :mod:`tinkex.emulator.errors` and :mod:`tinkex.emulator.config`; neither
state nor compute imports anything from here (``tests/emulator/test_layout.py``).
This package imports nothing itself, so importing one module of it costs no more
than that module.
"""
