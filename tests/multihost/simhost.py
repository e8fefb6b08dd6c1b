"""`ganeti-sim` for one host of the multi-host drill: its one cluster under the name given
(the CLI names its clusters cluster1.sim.local, ... on every host, so two hosts would clash).

    python -m tests.multihost.simhost cluster2.sim.local --clusters 1 --base-port 5080 ...
"""
from __future__ import annotations

import functools
import sys

from ganeti_sim import __main__ as cli
from ganeti_sim import fleet


def main(argv: list[str]) -> int:
    name, *rest = argv
    fleet.SimFleet = functools.partial(fleet.SimFleet, name_format=name)  # cli.main imports it by name
    return cli.main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
