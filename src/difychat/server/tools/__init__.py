"""Agent tools: what an agent app's model may call (built-in, OpenAPI, MCP), behind one protocol."""
