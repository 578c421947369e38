"""The offline example: a bundled demo REST API and manifests for it in both dialects."""
