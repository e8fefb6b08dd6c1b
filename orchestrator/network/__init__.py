"""The network domain: networks, subnets, ports and the pools their values come from.

- `pools`: one pool row per pool of values (a subnet's IPv4 addresses, bridges, MAC
  prefixes), its values as two bitmaps; taking and returning values under the row's lock.
- `addressing`: what an address, a CIDR, a gateway, an allocation pool, a MAC prefix or a
  MAC may be; EUI-64; the MAC a port gets.
- `flavors`: Synnefo's network flavors, and the mode, link and MAC prefix each gives.
- `networks`: networks and their subnets. `ports`: ports and their addresses.
- `inspect`: a network beside its Ganeti network on every backend, read live (the one part
  that calls a cluster, because an administrator asked).

Functions take a session and what they need (settings values as arguments); they flush and
never commit: the use cases (orchestrator.services.networks) do. docs/networks.md tells why.
"""
