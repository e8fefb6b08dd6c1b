"""ganeti_sim: simulated Ganeti clusters speaking RAPI 2 over HTTP(S).

    from ganeti_sim import SimFleet
    fleet = SimFleet(clusters=2, base_port=0, job_duration=0.2).start()
    fleet.clusters[0].url, fleet.clusters[0].instances
    fleet.stop()
"""
from .fleet import SimFleet
from .server import SimCluster

__all__ = ["SimFleet", "SimCluster"]
