"""File infrastructure: blob storage, safe remote fetching, document text extraction, signed URLs."""
