"""The console script loads the CLI without collecting and freezes what it loaded."""

from __future__ import annotations

import subprocess
import sys

# Runs the console script's entry point with the CLI's own run replaced: what it reports
# is the collector's state once the CLI is loaded and about to run.
PROBE = """
import gc, sys
import kafkaplan.cli as cli
import kafkaplan.launch as launch

def report():
    print(gc.isenabled(), gc.get_freeze_count())
    sys.exit(0)

cli.run = report
gc.unfreeze()
launch.run()
"""


def test_the_cli_runs_with_the_collector_on_and_what_loaded_it_frozen() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    enabled, frozen = done.stdout.split()
    assert enabled == "True"
    # What the interpreter, pydantic, click and the CLI's modules made (about 60,000 objects
    # the collector tracks); without the freeze, none.
    assert int(frozen) > 20_000
