"""`tether` run under cProfile counting this process's CPU time (not wall time: an event
loop's waits would otherwise be charged to whatever ran before them); the stats go to the
file named first when the server stops.

    python -m bench.relay.profiled OUT.prof serve --only relay ...
"""

from __future__ import annotations

import cProfile
import sys
import time

from tether.cli.main import main

out = sys.argv.pop(1)
profiler = cProfile.Profile(time.process_time)
profiler.enable()
try:
    main()
finally:
    profiler.disable()
    profiler.dump_stats(out)
