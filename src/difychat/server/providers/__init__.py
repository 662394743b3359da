"""Model adapters behind one protocol."""
