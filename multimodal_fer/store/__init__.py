"""The DuckDB warehouse: DDL from ``schemas/``, views from ``warehouse/*.sql``, Parquet staging, one loader.

Workers write one Parquet file per table per recording (:func:`write_staged`); a single writer
(:func:`load_recording`) moves a recording's files into DuckDB in one transaction, replacing
whatever an earlier version of the same recording had left, so a rerun changes nothing and a
half-loaded session is never visible.

The modules: :mod:`.warehouse` (connect, create tables and views, the read-only SQL surface),
:mod:`.publish` (run lock, working copy, publish), :mod:`.loader` (staging, loader, quarantine, audit,
runs) and :mod:`.objects` (objects index, re-homing, settings). Every public name is re-exported here,
so ``from multimodal_fer import store; store.connect(...)`` is the interface.
"""

from multimodal_fer.store.loader import (
    MAX_REASON,
    _sql_text,
    _upsert_patient,
    audit,
    clear_quarantine,
    conform,
    load_recording,
    loaded_versions,
    model_versions_json,
    quarantine,
    quarantined_keys,
    read_staged,
    record_export,
    record_run,
    write_staged,
)
from multimodal_fer.store.objects import (
    ALIAS_PATTERN,
    PSEUDONYM_SETTING,
    Location,
    SettingsMismatch,
    agree_pseudonyms,
    check_pseudonyms,
    known_objects,
    loaded_locations,
    rehome,
    remember_objects,
    update_metadata,
)
from multimodal_fer.store.publish import publishing, run_lock, working_path
from multimodal_fer.store.warehouse import (
    QUERY_STATEMENT_TYPES,
    READ_ONLY_SETTINGS,
    VIEWS_PACKAGE,
    QueryRefused,
    QueryTimeout,
    connect,
    connect_readonly,
    init_db,
    interrupt_after,
    query,
    query_bounded,
    view_sql,
)

__all__ = [
    "MAX_REASON",
    "ALIAS_PATTERN",
    "PSEUDONYM_SETTING",
    "QUERY_STATEMENT_TYPES",
    "READ_ONLY_SETTINGS",
    "VIEWS_PACKAGE",
    "Location",
    "QueryRefused",
    "QueryTimeout",
    "SettingsMismatch",
    "_sql_text",
    "_upsert_patient",
    "agree_pseudonyms",
    "audit",
    "check_pseudonyms",
    "clear_quarantine",
    "conform",
    "connect",
    "connect_readonly",
    "init_db",
    "interrupt_after",
    "known_objects",
    "load_recording",
    "loaded_locations",
    "loaded_versions",
    "model_versions_json",
    "publishing",
    "query",
    "query_bounded",
    "quarantine",
    "quarantined_keys",
    "read_staged",
    "record_export",
    "record_run",
    "rehome",
    "remember_objects",
    "run_lock",
    "update_metadata",
    "view_sql",
    "working_path",
    "write_staged",
]
