"""The benchmark harness: ``python -m bench NAME [options] [--json out.json]``.

Each benchmark is a module ``bench/NAME.py`` exposing ``add_arguments(parser)`` and
``async run(args) -> dict``. The dispatcher (``bench/__main__.py``) finds the module by name, lets it
add its own options, runs it in one ``asyncio.run``, prints the figures and, with ``--json``, writes
them to a file so results can be compared across commits.
"""
