"""Hostile input files: every one is a clear error naming the file, never a hang, a memory
blow-up or a traceback (``explain`` and the protocol commands alike)."""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from manifests import modern
from support.cli import engine_cli

from engine import load_source
from engine.errors import ManifestError, ReadError

MANIFEST = modern("http://127.0.0.1:9").replace(
    "token: {type: string, airbyte_secret: true}",
    "token: {type: string, airbyte_secret: true}\n      page_size: {type: integer}",
)


def _explain(manifest: Path | str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", "explain", "--manifest", str(manifest), *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _hostile_files(folder: Path) -> dict[str, Path]:
    files = {
        "utf16": folder / "utf16.yaml",
        "utf32": folder / "utf32.yaml",
        "latin1": folder / "latin1.yaml",
        "surrogate": folder / "surrogate.yaml",
        "folder": folder / "folder.yaml",
        "fifo": folder / "fifo.yaml",
        "device": folder / "device.yaml",
        "huge": folder / "huge.yaml",
    }
    files["utf16"].write_bytes(MANIFEST.encode("utf-16"))
    files["utf32"].write_bytes(MANIFEST.encode("utf-32"))
    files["latin1"].write_bytes(MANIFEST.replace("items", "ítems").encode("latin-1"))
    files["surrogate"].write_text(MANIFEST.replace("name: items", 'name: "it\\ud800ems"'))
    files["folder"].mkdir()
    os.mkfifo(files["fifo"])
    files["device"].symlink_to("/dev/zero")
    with files["huge"].open("wb") as huge:  # sparse: the size is what counts
        huge.truncate(30 * 1024 * 1024)
    return files


EXPECTED = {
    "utf16": "is UTF-16 text; save it as UTF-8",
    "utf32": "is UTF-32 text; save it as UTF-8",
    "latin1": "is not UTF-8 text (line ",
    "surrogate": "lone UTF-16 surrogate",
    "folder": "is a folder, not a regular file",
    "fifo": "is a device, FIFO or socket, not a regular file",
    "device": "is a device, FIFO or socket, not a regular file",
    "huge": "is 31,457,280 bytes, more than the 20,971,520 allowed",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_explain_names_a_hostile_manifest_file(tmp_path: Path, kind: str) -> None:
    path = _hostile_files(tmp_path)[kind]
    done = _explain(path)
    assert done.returncode == 1, done.stderr
    assert EXPECTED[kind] in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("kind", ["utf16", "fifo", "device", "huge"])
def test_the_protocol_commands_name_a_hostile_manifest_file(tmp_path: Path, kind: str) -> None:
    config = tmp_path / "config.json"
    config.write_text("{}")
    done = engine_cli("check", _hostile_files(tmp_path)[kind], config)
    assert done.returncode == 1
    assert EXPECTED[kind] in json.loads(done.stdout)["trace"]["error"]["message"]


@pytest.mark.parametrize("name", ["manifest.txt", "manifest", "/dev/zero", "version: 6.0.0"])
def test_a_manifest_path_without_a_manifest_suffix_is_a_missing_file(name: str) -> None:
    done = _explain(name)
    assert done.returncode == 1
    assert f"no manifest file {name!r}: a manifest is a .yaml, .yml or .json file" in done.stderr


CONFIGS = {
    "list": ("[1, 2]", "the config file {}: must hold a JSON object, not a list"),
    "string": ('"token"', "must hold a JSON object, not a string"),
    "huge number": ('{"page_size": 1e400}', "is not valid JSON: number is infinity"),
    "surrogate": ('{"token": "\\ud800"}', "is not valid JSON"),
    "utf16": (codecs.BOM_UTF16_LE + '{"token": "x"}'.encode("utf-16-le"), "is UTF-16 text"),
    "bytes": (b'{"token": "\xff"}', "is not UTF-8 text (line 1, byte 11: 0xff)"),
    "wrong type": ('{"page_size": "ten"}', "config key 'page_size' is invalid"),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_a_config_of_the_wrong_shape_is_a_clear_error(tmp_path: Path, case: str) -> None:
    content, expected = CONFIGS[case]
    manifest, config = tmp_path / "m.yaml", tmp_path / "config.json"
    manifest.write_text(MANIFEST)
    if isinstance(content, bytes):
        config.write_bytes(content)
    else:
        config.write_text(content)
    done = engine_cli("read", manifest, config)
    message = json.loads(done.stdout.splitlines()[-1])["trace"]["error"]["message"]
    assert expected.format(config) in message and "unexpected" not in message
    explained = _explain(manifest, "--config", str(config))
    if case != "wrong type":  # explain shows a config, it does not validate it
        assert explained.returncode == 1 and expected.format(config) in explained.stderr


@pytest.mark.parametrize(
    ("option", "content", "expected"),
    [
        ("--catalog", "[1]", "must hold a JSON object with 'streams', not a list"),
        ("--catalog", '{"streams": {"a": 1}}', "'streams' must be a list, not an object"),
        ("--catalog", '{"streams": [7]}', "streams[0] must be an object, not a number"),
        ("--catalog", '{"streams": [{"stream": "items"}]}', "streams[0].stream must be an object"),
        ("--state", '"cursor"', "must hold a JSON object or a list of state messages"),
        ("--state", '{"items": "2024"}', "the state of stream 'items' must be an object"),
        ("--state", "[3]", "[0] must be a state message (an object), not a number"),
        ("--state", '[{"type": "STREAM", "stream": []}]', "[0].stream must be an object"),
        ("--state", "/dev/zero", "is a device, FIFO or socket"),
    ],
)
def test_a_catalog_or_state_of_the_wrong_shape_names_file_and_key(
    tmp_path: Path, option: str, content: str, expected: str
) -> None:
    manifest, config, extra = tmp_path / "m.yaml", tmp_path / "c.json", tmp_path / "x.json"
    manifest.write_text(MANIFEST)
    config.write_text("{}")
    if content.startswith("/"):
        extra = Path(content)
    else:
        extra.write_text(content)
    done = engine_cli("read", manifest, config, option, str(extra))
    assert done.returncode == 1
    message = json.loads(done.stdout.splitlines()[-1])["trace"]["error"]["message"]
    what = option.lstrip("-")
    assert message.startswith(f"the {what} file {extra}") and expected in message


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--concurrency", "0"),
        ("--concurrency", "-3"),
        ("--concurrency", "257"),
        ("--read-timeout", "0"),
        ("--request-deadline", "nan"),
        ("--request-deadline", "inf"),
    ],
)
def test_flags_out_of_range_are_refused(tmp_path: Path, flag: str, value: str) -> None:
    manifest, config = tmp_path / "m.yaml", tmp_path / "c.json"
    manifest.write_text(MANIFEST)
    config.write_text("{}")
    done = engine_cli("read", manifest, config, flag, value)
    assert done.returncode == 2
    assert f"argument {flag}: expected" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "url_base",
    ["file:///etc", "ftp://127.0.0.1/", "gopher://127.0.0.1:70/", "/etc/passwd", "127.0.0.1:9/"],
)
def test_a_url_base_that_is_not_http_is_a_manifest_error(url_base: str) -> None:
    source = load_source(modern(url_base), {})
    with pytest.raises(ManifestError, match="is not an http or https URL") as caught:
        source.stream("items")
    assert "retriever.requester" in str(caught.value)


def test_a_url_base_from_the_config_fails_when_sent_without_a_request() -> None:
    manifest = modern("{{ config['base'] }}", error_handler="type: DefaultErrorHandler")
    with pytest.raises(ReadError, match="No connection adapters"):
        list(load_source(manifest, {"base": "file:///etc/"}).read_records("items"))


SCHEMA_LOADER = "schema_loader: {type: InlineSchemaLoader"


@pytest.mark.parametrize(
    ("file_path", "expected"),
    [
        ("/etc/hostname", "leaves the manifest's folder"),
        ("../outside.json", "leaves the manifest's folder"),
        ("./schemas/../../outside.json", "leaves the manifest's folder"),
        ("{{ config['schema'] }}", "file_path may not read the config"),
    ],
)
def test_schema_files_come_only_from_the_manifest_folder(
    tmp_path: Path, file_path: str, expected: str
) -> None:
    (tmp_path / "outside.json").write_text('{"type": "object", "title": "outside"}')
    folder = tmp_path / "connector"
    folder.mkdir()
    manifest = folder / "manifest.yaml"
    text = modern("http://127.0.0.1:9").replace(
        "schema_loader:\n      type: InlineSchemaLoader\n"
        "      schema: {type: object, properties: {id: {type: integer}}}",
        f'schema_loader: {{type: JsonFileSchemaLoader, file_path: "{file_path}"}}',
    )
    assert "JsonFileSchemaLoader" in text
    manifest.write_text(text)
    source = load_source(str(manifest), {"schema": "../outside.json"})
    with pytest.raises(ManifestError, match=expected):
        source.stream("items").load_schema()


def test_a_schema_file_linked_to_outside_the_folder_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "outside.json").write_text('{"type": "object", "title": "outside"}')
    folder = tmp_path / "connector"
    (folder / "schemas").mkdir(parents=True)
    (folder / "schemas" / "items.json").symlink_to(tmp_path / "outside.json")
    manifest = folder / "manifest.yaml"
    manifest.write_text(
        modern("http://127.0.0.1:9").replace(
            "schema_loader:\n      type: InlineSchemaLoader\n"
            "      schema: {type: object, properties: {id: {type: integer}}}",
            "schema_loader: {type: JsonFileSchemaLoader}",
        )
    )
    assert "JsonFileSchemaLoader" in manifest.read_text()
    (folder / "schemas" / "other.json").write_text('{"type": "object", "title": "inside"}')
    schema = load_source(str(manifest), {}).stream("items").json_schema
    assert schema.get("title") != "outside"
