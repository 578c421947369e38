"""``python -m engine explain``: a manifest described without reading it."""
