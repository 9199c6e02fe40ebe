"""The ``kafkaplan`` console script (and ``python -m kafkaplan``): the CLI, loaded without
the cyclic garbage collector.

Loading the CLI's modules (and pydantic, click, ...) makes some 60,000 objects the
collector tracks, which live as long as the process. The collector would walk them some 80
times while they load (about 11 ms of every run; a no-op plan at 1,000 topics takes about
0.7 s), and again in each full collection after. None of them is garbage, so the
collector is off while they load, and they are frozen afterwards (``gc.freeze``): left out
of every later collection, which then looks only at what the command itself makes.
"""

from __future__ import annotations

import gc
from typing import NoReturn


def run() -> NoReturn:
    gc.disable()
    try:
        from kafkaplan import cli
    finally:
        gc.freeze()
        gc.enable()
    cli.run()
