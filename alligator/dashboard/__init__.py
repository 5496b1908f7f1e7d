"""``alligator dashboard``: a web page showing what the queues hold.

For each queue: its depths (visible, in flight, delayed, DLQ, oldest age)
with their history since the page was opened, drawn as a plot; the
dead-letter queue's messages with their reasons, and redrive and delete
behind a confirmation; a task's state from the status store.

Modules, one job each:

- ``data``: what is shown and done, through ``alligator.ops`` only;
- ``security``: loopback by default, the token, CSRF and Origin checks;
- ``app``: the routes (Flask, the ``alligator[dashboard]`` extra);
- ``server``: werkzeug's threaded server, quiet;
- ``static/``, ``templates/``: the page, its script and style, shipped in
  the package (no CDN: it works with no internet).

Nothing here is imported by the rest of alligator, and this package
imports Flask only in ``app`` and ``server``.
"""
