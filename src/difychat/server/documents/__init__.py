"""Text out of documents (PDF, DOCX, HTML, plain text): pure functions over bytes.

A layer below ``files`` and ``tools``, which both read documents: uploads attached to a chat,
pages and documents a tool fetched.
"""
