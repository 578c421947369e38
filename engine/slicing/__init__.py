"""Stream slicing: date windows, list values, parent records, and their products."""
