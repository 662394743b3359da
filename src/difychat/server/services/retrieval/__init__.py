"""Retrieval: the keyword and vector index behind datasets, searching it, and its place in chat."""
