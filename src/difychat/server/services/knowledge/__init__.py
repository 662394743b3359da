"""The Knowledge API's services: datasets, documents, segments, keys and the indexing jobs."""

from __future__ import annotations

import uuid

# Every Knowledge API request acts as the one workspace's owner (``created_by``, ``author_name``).
OWNER_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "difychat:workspace-owner"))
OWNER_NAME = "Owner"
