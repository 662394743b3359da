"""What an operator sees of a running server: Prometheus metrics, request ids, structured logs.

Nothing here changes what a request does; it only watches. The composition root wires it:
the request middleware (outermost), the ``/metrics`` route, and an observer on the generation
registry that records each chat turn once, when it ends.
"""
