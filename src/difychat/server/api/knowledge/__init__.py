"""The Knowledge API's handlers (``dataset-`` keys): datasets, documents, segments."""
