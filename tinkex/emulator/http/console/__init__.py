"""The emulator's web console: runs, loss curves, checkpoints, sessions, samples, a playground.

Served by the emulator itself under ``/console`` (same process, same port, same
tenancy as the API). Pages are rendered on the server from Jinja templates, and
charts are SVG drawn on the server; :mod:`.raster` draws the same charts as a
PNG (``/console/training_runs/{id}/metrics.png``). There is no build step and
nothing is fetched from elsewhere: templates and the stylesheet ship in the package.
"""
