"""Wire serialisers, one module per resource: typed records in, JSON-ready dicts out, with the keys
in the contract's order. Routes render what these return; nothing else builds a response body."""
