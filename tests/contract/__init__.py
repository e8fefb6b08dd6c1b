"""Contract tests: orchestrator.rapi.RapiClient against ganeti_sim over real HTTP(S),
each test naming the section of ganeti/ganeti doc/rapi.rst it checks."""
