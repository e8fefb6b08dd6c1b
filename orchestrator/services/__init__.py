"""The application layer: one function per use case, shared by the API, the CLI, the
console and the tasks.

A use case validates once, writes its rows, commits, and only then hands an operation to
the dispatcher (`handover.run`), so whatever the caller is, a request that was accepted is
durable and a broker outage only delays it: recovery re-drives what was not published.
Each function takes the process's `Context` and a session; adapters only parse and render.
"""
