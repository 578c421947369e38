"""Fields of the format that change what the reference runner reads but that this engine does
not implement yet.

Accepting them silently would read differently from the reference without a word, so a stream
that uses one is refused like an unsupported component (named by path: ``spec`` and ``check``
of other streams still work, and the Dagster integration leaves that stream out). A field that
only tunes speed or resources (``max_concurrent_async_job_count``), or
only acts when a sync asks for it (``file_uploader``: file transfers), is not listed: ignoring
it reads the same records.
"""

from __future__ import annotations

from typing import Any

from engine.errors import UnsupportedComponentError

_TRUNCATED = "fetching the complete list of a truncated record is not supported yet"

# (component type, field) -> why it is refused.
NOT_IMPLEMENTED: dict[tuple[str, str], str] = {
    ("RecordExpander", "parent_fields"): "copying parent fields onto expanded records is not "
    "supported yet",
    ("RecordExpander", "merge_parent"): "merging the parent into expanded records is not "
    "supported yet",
    ("RecordExpander", "truncation_indicator_path"): _TRUNCATED,
    ("RecordExpander", "truncated_list_retriever"): _TRUNCATED,
    # The reference reads profile_assertion only when use_profile_assertion is set.
    ("SimpleRetriever", "request_window_splitting"): "splitting the cursor's date window in "
    "two when the API answers SPLIT_REQUEST_WINDOW is not supported yet",
    ("OAuthAuthenticator", "use_profile_assertion"): "the OAuth profile assertion flow (a "
    "token asked for with a JWT that profile_assertion signs) needs the JwtAuthenticator this "
    "engine lacks",
}

# Fields outside any stream: refusing them would refuse the whole manifest, so they warn.
WARNED: dict[tuple[str, str], str] = {
    ("Spec", "config_normalization_rules"): "config_normalization_rules (config migrations, "
    "transformations and validations) are not applied by this engine: give it the config "
    "the rules would produce",
}


def check_implemented(
    type_name: str, node: dict[str, Any], path: str, file: str | None, line_of: Any
) -> str | None:
    """Raise for a field this engine would otherwise ignore; return a warning for a warned one."""
    for name, value in node.items():
        if value in (None, False, "", [], {}):
            continue
        why = NOT_IMPLEMENTED.get((type_name, name))
        if why is not None:
            raise UnsupportedComponentError(
                f"{type_name}.{name} is not supported: {why}",
                path=f"{path}.{name}" if path else name,
                file=file,
                line=line_of(node, name),
            )
        warned = WARNED.get((type_name, name))
        if warned is not None:
            return f"{path}.{name}: {warned}"
    return None
