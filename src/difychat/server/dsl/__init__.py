"""Dify's app export DSL: importing an exported chat, agent-chat or completion app as an entry
of the apps file, and exporting an app of the apps file as a DSL file Dify imports.

Contract: dify-dsl-and-webapp.md Part A. ``document.py`` reads a file (size cap, YAML, version,
mode), ``importer.py`` maps ``model_config`` onto difychat's schema and reports what it could
not map (``report.py``), ``exporter.py`` writes the DSL, ``apps_text.py`` adds an entry to an
apps file's text keeping its comments. Nothing here reads settings or touches the database.
"""

from __future__ import annotations

from difychat.server.dsl.document import MAX_BYTES, DslRefused, read_document
from difychat.server.dsl.exporter import Exported, dump_dsl, export_app
from difychat.server.dsl.importer import Imported, ImportOptions, import_app
from difychat.server.dsl.report import ExportReport, ImportReport, Note

__all__ = [
    "MAX_BYTES",
    "DslRefused",
    "ExportReport",
    "Exported",
    "ImportOptions",
    "ImportReport",
    "Imported",
    "Note",
    "dump_dsl",
    "export_app",
    "import_app",
    "read_document",
]
