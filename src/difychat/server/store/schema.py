"""Tables. One schema for SQLite and PostgreSQL; timestamps are naive UTC.

Every list the API serves is a keyset walk over an index that ends in ``id``,
so pages stay O(log n) at millions of rows.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

Id = sa.Uuid(as_uuid=False)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    ]


apps = sa.Table(
    "apps",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("mode", sa.String(32), nullable=False),
    # "config" (from the apps file) or "demo" (created on first run)
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("enable_api", sa.Boolean(), nullable=False),
    sa.Column("config_id", Id, nullable=True),
    *_timestamps(),
)

app_configs = sa.Table(
    "app_configs",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("config", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Index(None, "app_id", "fingerprint"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    # SHA-256 of the whole key: keys are long random strings, so a fast hash is enough.
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    # What `keys list` shows: "app-Ab…yz".
    sa.Column("hint", sa.String(32), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("revoked_at", sa.DateTime(), nullable=True),
    # What the operator calls it (`keys create --label`).
    sa.Column("label", sa.String(255), nullable=True),
    # Refused from this moment on; never when empty.
    sa.Column("expires_at", sa.DateTime(), nullable=True),
    # Written at most about once a minute, off the request path.
    sa.Column("last_used_at", sa.DateTime(), nullable=True),
    # Requests per minute and requests at once; empty: the server's defaults, 0: unlimited.
    sa.Column("rpm", sa.Integer(), nullable=True),
    sa.Column("concurrency", sa.Integer(), nullable=True),
    sa.Index(None, "app_id"),
)

end_users = sa.Table(
    "end_users",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("session_id", sa.String(255), nullable=False),
    sa.Column("is_anonymous", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.UniqueConstraint("app_id", "session_id"),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("app_config_id", Id, sa.ForeignKey("app_configs.id"), nullable=False),
    sa.Column("end_user_id", Id, sa.ForeignKey("end_users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("mode", sa.String(32), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("inputs", sa.JSON(), nullable=False),
    sa.Column("introduction", sa.Text(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    *_timestamps(),
    sa.Index(None, "end_user_id", "updated_at", "id"),
    sa.Index(None, "end_user_id", "created_at", "id"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("conversation_id", Id, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("end_user_id", Id, sa.ForeignKey("end_users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("task_id", Id, nullable=False),
    sa.Column("parent_message_id", Id, nullable=True),
    sa.Column("query", sa.Text(), nullable=False),
    sa.Column("inputs", sa.JSON(), nullable=False),
    sa.Column("answer", sa.Text(), nullable=False),
    # "running" while the model answers; "normal", "stopped" or "error" after.
    # The wire shows "stopped" and "running" as "normal", as Dify does.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("prompt_tokens", sa.Integer(), nullable=False),
    sa.Column("completion_tokens", sa.Integer(), nullable=False),
    sa.Column("usage", sa.JSON(), nullable=True),
    sa.Column("retriever_resources", sa.JSON(), nullable=True),
    *_timestamps(),
    # The process running the answer while it is "running" (see ``workers``).
    sa.Column("worker_id", Id, nullable=True),
    sa.Index(None, "conversation_id", "created_at", "id"),
    sa.Index(None, "task_id"),
    sa.Index(None, "status", "worker_id"),
)

# One row per live server process; a process whose heartbeat stops is dead, and the answers it
# was running are marked interrupted by whichever process notices first.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("started_at", sa.DateTime(), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
)

message_feedbacks = sa.Table(
    "message_feedbacks",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("conversation_id", Id, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("message_id", Id, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    sa.Column("rating", sa.String(16), nullable=False),
    sa.Column("content", sa.Text(), nullable=True),
    sa.Column("from_source", sa.String(16), nullable=False),
    sa.Column("from_end_user_id", Id, nullable=True),
    sa.Column("from_account_id", Id, nullable=True),
    *_timestamps(),
    sa.UniqueConstraint("message_id", "from_source"),
    sa.Index(None, "app_id", "created_at", "id"),
)

# Stop requests relayed between worker processes that share the database.
stop_requests = sa.Table(
    "stop_requests",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("task_id", Id, nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)

upload_files = sa.Table(
    "upload_files",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("end_user_id", Id, sa.ForeignKey("end_users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("extension", sa.Text(), nullable=False),
    sa.Column("mime_type", sa.String(255), nullable=False),
    sa.Column("storage_key", sa.String(512), nullable=False),
    # SHA-256 of the content, hex.
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)

# Files attached to a message: user uploads ("local_file") or links ("remote_url").
message_files = sa.Table(
    "message_files",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("message_id", Id, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("transfer_method", sa.String(16), nullable=False),
    sa.Column("url", sa.Text(), nullable=True),
    sa.Column("upload_file_id", Id, nullable=True),
    sa.Column("filename", sa.Text(), nullable=False),
    sa.Column("mime_type", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("belongs_to", sa.String(16), nullable=False),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Index(None, "message_id", "position"),
    sa.Index(None, "upload_file_id"),
)

# Question-and-answer pairs that can answer a chat query without the model.
annotations_table = sa.Table(
    "annotations",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("question", sa.Text(), nullable=False),
    sa.Column("answer", sa.Text(), nullable=False),
    sa.Column("hit_count", sa.Integer(), nullable=False),
    # Who wrote it (the workspace owner, for annotations made with an app key).
    sa.Column("account_id", Id, nullable=False),
    sa.Column("account_name", sa.String(255), nullable=False),
    # The question's vector under ``embedding_model``, filled while annotation reply is enabled.
    sa.Column("embedding", sa.JSON(), nullable=True),
    sa.Column("embedding_model", sa.String(255), nullable=True),
    *_timestamps(),
    sa.Index(None, "app_id", "created_at", "id"),
)

# Annotation reply settings per app (set through the API, not the apps file).
annotation_settings = sa.Table(
    "annotation_settings",
    metadata,
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("id", Id, nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("score_threshold", sa.Float(), nullable=False),
    sa.Column("embedding_provider_name", sa.String(255), nullable=False),
    sa.Column("embedding_model_name", sa.String(255), nullable=False),
    *_timestamps(),
)

# Enable/disable jobs of annotation reply, readable from any worker.
annotation_jobs = sa.Table(
    "annotation_jobs",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    # "waiting", "processing", "completed" or "error"
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error_msg", sa.Text(), nullable=False),
    sa.Column("score_threshold", sa.Float(), nullable=False),
    sa.Column("embedding_provider_name", sa.String(255), nullable=False),
    sa.Column("embedding_model_name", sa.String(255), nullable=False),
    *_timestamps(),
    sa.Index(None, "app_id", "status"),
)

# A conversation's own copies of the variables its app declares (``conversation_variables:``).
conversation_variables = sa.Table(
    "conversation_variables",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("conversation_id", Id, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("value_type", sa.String(32), nullable=False),
    # The value as JSON, so that numbers, booleans, objects and arrays keep their type.
    sa.Column("value", sa.JSON(), nullable=True),
    sa.Column("description", sa.Text(), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("conversation_id", "name"),
    sa.Index(None, "conversation_id", "created_at", "id"),
)

# An agent answer's rounds: what the model thought and asked for, what the tools answered.
message_agent_thoughts = sa.Table(
    "message_agent_thoughts",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("message_id", Id, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("thought", sa.Text(), nullable=False),
    # Tool names joined by ";"; JSON text of name -> arguments and name -> result, as on the wire.
    sa.Column("tool", sa.Text(), nullable=False),
    sa.Column("tool_labels", sa.JSON(), nullable=False),
    sa.Column("tool_input", sa.Text(), nullable=False),
    sa.Column("observation", sa.Text(), nullable=False),
    # Name -> {"time_cost", "error", "tool_config"}: never on the wire.
    sa.Column("tool_meta", sa.JSON(), nullable=False),
    # Every call of the round, [{"id", "name", "arguments", "observation"}], for history replay
    # (the wire strings keep one entry per tool name).
    sa.Column("tool_calls", sa.JSON(), nullable=False),
    # Ids of the message files the round's tools produced.
    sa.Column("files", sa.JSON(), nullable=False),
    sa.Column("prompt_tokens", sa.Integer(), nullable=False),
    sa.Column("completion_tokens", sa.Integer(), nullable=False),
    # The round's usage object, prices included (null until the model has answered).
    sa.Column("usage", sa.JSON(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.UniqueConstraint("message_id", "position"),
)

# Files tools produced, owned by the conversation; served at /files/tools/<id>.<ext> (signed).
tool_files = sa.Table(
    "tool_files",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("app_id", Id, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    sa.Column("conversation_id", Id, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("mime_type", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("storage_key", sa.String(512), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Index(None, "conversation_id"),
)

# -- knowledge ------------------------------------------------------------------------------------
# Datasets (knowledge bases), their documents and segments, the uploads documents are read from,
# the durable indexing jobs and the ``dataset-`` keys of the Knowledge API.

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("permission", sa.String(32), nullable=False),
    sa.Column("data_source_type", sa.String(32), nullable=True),
    sa.Column("indexing_technique", sa.String(32), nullable=True),
    sa.Column("embedding_model", sa.String(255), nullable=True),
    sa.Column("embedding_model_provider", sa.String(255), nullable=True),
    sa.Column("retrieval_model", sa.JSON(), nullable=True),
    sa.Column("summary_index_setting", sa.JSON(), nullable=True),
    sa.Column("doc_form", sa.String(32), nullable=True),
    sa.Column("enable_api", sa.Boolean(), nullable=False),
    sa.Column("partial_member_list", sa.JSON(), nullable=False),
    sa.Column("external_knowledge_id", sa.String(255), nullable=True),
    sa.Column("external_knowledge_api_id", sa.String(255), nullable=True),
    sa.Column("external_retrieval_model", sa.JSON(), nullable=True),
    # The process rule new documents get when they name none (the latest one used).
    sa.Column("process_rule_id", Id, nullable=True),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("updated_by", Id, nullable=True),
    *_timestamps(),
    # Documents show the built-in metadata fields (name, uploader, dates, source) too.
    sa.Column("built_in_field_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Index(None, "created_at", "id"),
)

dataset_process_rules = sa.Table(
    "dataset_process_rules",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("dataset_id", Id, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    # "automatic", "custom" or "hierarchical"; ``rules`` as stored (§5 of the contract).
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("rules", sa.JSON(), nullable=True),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Index(None, "dataset_id"),
)

# The bytes a document is read from (uploaded files, or the text of create-by-text).
dataset_files = sa.Table(
    "dataset_files",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("dataset_id", Id, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("extension", sa.String(32), nullable=False),
    sa.Column("mime_type", sa.String(255), nullable=False),
    sa.Column("storage_key", sa.String(512), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Index(None, "dataset_id"),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("dataset_id", Id, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("data_source_type", sa.String(32), nullable=False),
    sa.Column("file_id", Id, sa.ForeignKey("dataset_files.id", ondelete="SET NULL"), nullable=True),
    sa.Column("process_rule_id", Id, nullable=True),
    sa.Column("batch", sa.String(32), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("created_from", sa.String(16), nullable=False),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("tokens", sa.Integer(), nullable=True),
    sa.Column("word_count", sa.Integer(), nullable=True),
    # waiting, parsing, cleaning, splitting, indexing, completed, error
    sa.Column("indexing_status", sa.String(16), nullable=False),
    sa.Column("processing_started_at", sa.DateTime(), nullable=True),
    sa.Column("parsing_completed_at", sa.DateTime(), nullable=True),
    sa.Column("cleaning_completed_at", sa.DateTime(), nullable=True),
    sa.Column("splitting_completed_at", sa.DateTime(), nullable=True),
    sa.Column("completed_at", sa.DateTime(), nullable=True),
    sa.Column("indexing_latency", sa.Float(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("stopped_at", sa.DateTime(), nullable=True),
    sa.Column("paused_at", sa.DateTime(), nullable=True),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("disabled_at", sa.DateTime(), nullable=True),
    sa.Column("disabled_by", Id, nullable=True),
    sa.Column("archived", sa.Boolean(), nullable=False),
    sa.Column("archived_at", sa.DateTime(), nullable=True),
    sa.Column("archived_by", Id, nullable=True),
    sa.Column("doc_type", sa.String(32), nullable=True),
    sa.Column("doc_metadata", sa.JSON(), nullable=True),
    sa.Column("doc_form", sa.String(32), nullable=False),
    sa.Column("doc_language", sa.String(32), nullable=True),
    *_timestamps(),
    sa.Index(None, "dataset_id", "created_at", "position"),
    sa.Index(None, "dataset_id", "batch"),
    sa.Index(None, "dataset_id", "name"),
)

document_segments = sa.Table(
    "document_segments",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("dataset_id", Id, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    sa.Column("document_id", Id, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("answer", sa.Text(), nullable=True),
    sa.Column("keywords", sa.JSON(), nullable=False),
    sa.Column("word_count", sa.Integer(), nullable=False),
    sa.Column("tokens", sa.Integer(), nullable=False),
    sa.Column("index_node_id", sa.String(64), nullable=False),
    sa.Column("index_node_hash", sa.String(64), nullable=False),
    sa.Column("hit_count", sa.Integer(), nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("disabled_at", sa.DateTime(), nullable=True),
    sa.Column("disabled_by", Id, nullable=True),
    # waiting, indexing, completed, error, re_segment
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("updated_by", Id, nullable=True),
    sa.Column("indexing_at", sa.DateTime(), nullable=True),
    sa.Column("completed_at", sa.DateTime(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("stopped_at", sa.DateTime(), nullable=True),
    *_timestamps(),
    sa.Index(None, "document_id", "position"),
    sa.Index(None, "dataset_id"),
)

# One job per document: the document's latest indexing run. A worker claims a ``waiting`` job, or
# a ``running`` one whose lease (``heartbeat_at``) ran out, and renews the lease while it works.
indexing_jobs = sa.Table(
    "indexing_jobs",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column(
        "document_id", Id, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, unique=True
    ),
    sa.Column("dataset_id", Id, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    sa.Column("batch", sa.String(32), nullable=False),
    # waiting, running, completed, error
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("max_attempts", sa.Integer(), nullable=False),
    # Not to be claimed before (a retry's back-off).
    sa.Column("run_after", sa.DateTime(), nullable=False),
    sa.Column("worker_id", Id, nullable=True),
    sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    *_timestamps(),
    sa.Index(None, "state", "run_after"),
)

# Knowledge API keys (``dataset-`` and 24 characters), stored hashed like app keys.
dataset_keys = sa.Table(
    "dataset_keys",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hint", sa.String(32), nullable=False),
    sa.Column("label", sa.String(255), nullable=True),
    # True: only the datasets listed in ``dataset_key_scopes`` (none left: none at all).
    sa.Column("scoped", sa.Boolean(), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("expires_at", sa.DateTime(), nullable=True),
    sa.Column("revoked_at", sa.DateTime(), nullable=True),
    sa.Column("last_used_at", sa.DateTime(), nullable=True),
)

dataset_key_scopes = sa.Table(
    "dataset_key_scopes",
    metadata,
    sa.Column("key_id", Id, sa.ForeignKey("dataset_keys.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("dataset_id", Id, sa.ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
)

# Tags of datasets (Dify's tags of type ``knowledge``): workspace-wide names bound to datasets.
knowledge_tags = sa.Table(
    "knowledge_tags",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False, unique=True),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Index(None, "created_at", "id"),
)

knowledge_tag_bindings = sa.Table(
    "knowledge_tag_bindings",
    metadata,
    sa.Column("tag_id", Id, sa.ForeignKey("knowledge_tags.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("dataset_id", Id, sa.ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Index(None, "dataset_id"),
)

# A dataset's metadata fields ("string", "number" or "time"), and which documents carry each. The
# values live in the document's ``doc_metadata`` object, keyed by the field's name (Dify's shape,
# which search results show as it is).
dataset_metadata_fields = sa.Table(
    "dataset_metadata_fields",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("dataset_id", Id, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("updated_by", Id, nullable=True),
    *_timestamps(),
    sa.UniqueConstraint("dataset_id", "name"),
)

dataset_metadata_bindings = sa.Table(
    "dataset_metadata_bindings",
    metadata,
    sa.Column(
        "metadata_id", Id, sa.ForeignKey("dataset_metadata_fields.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("document_id", Id, sa.ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Index(None, "document_id"),
)

# The search index of dataset segments: one row per searchable segment, with its embedding when
# its dataset embeds. The keyword index beside it is the database's own full-text index, made by
# the migration in each dialect's form (``store/knowledge_index.py``): SQLite FTS5, PostgreSQL
# tsvector with GIN. ``seq`` is the full-text row's id.
knowledge_index = sa.Table(
    "knowledge_index",
    metadata,
    sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("segment_id", Id, nullable=False, unique=True),
    sa.Column("dataset_id", Id, nullable=False),
    sa.Column("document_id", Id, nullable=False),
    # How many search terms the segment has (its length for keyword ranking).
    sa.Column("length", sa.Integer(), nullable=False),
    # float32 little-endian, normalised to unit length; null for keyword-only datasets.
    sa.Column("embedding", sa.LargeBinary(), nullable=True),
    sa.Column("embedding_model", sa.String(255), nullable=True),
    sa.Index(None, "dataset_id", "seq"),
)

# Per dataset: a version bumped by every write to its index (so each process's in-memory vectors
# know when another process changed them), and the entry count and total length keyword ranking
# reads.
knowledge_index_versions = sa.Table(
    "knowledge_index_versions",
    metadata,
    sa.Column("dataset_id", Id, primary_key=True),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("entries", sa.BigInteger(), nullable=False),
    sa.Column("total_length", sa.BigInteger(), nullable=False),
)

# How many of a dataset's entries hold each term (the document frequency of keyword ranking).
knowledge_terms = sa.Table(
    "knowledge_terms",
    metadata,
    sa.Column("dataset_id", Id, primary_key=True),
    sa.Column("term", sa.String(64), primary_key=True),
    sa.Column("entries", sa.Integer(), nullable=False),
)

# Conversations an end user pinned on the web chat page (its sidebar lists them apart).
pinned_conversations = sa.Table(
    "pinned_conversations",
    metadata,
    sa.Column(
        "conversation_id",
        Id,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("end_user_id", Id, sa.ForeignKey("end_users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Index(None, "end_user_id"),
)
