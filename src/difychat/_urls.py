"""Where the client goes when told nowhere (kept apart from the client so that the command line
can name it without loading the HTTP stack)."""

DEFAULT_BASE_URL = "https://api.dify.ai/v1"
