"""The benchmark suite: the project side by side with the plain-Python limit (see README.md)."""
