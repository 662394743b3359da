"""Agent apps: the agent answer sources (function calling, ReAct), their tools and their files."""
