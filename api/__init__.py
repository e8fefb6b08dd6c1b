"""The REST API: validates, writes rows, enqueues a chain, answers at once."""
