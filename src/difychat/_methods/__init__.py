"""The API methods, grouped by topic; each module holds a sync mixin and its async twin."""
