"""The HTTP edge: parse, authenticate, call one service, serialise."""
