"""Graph passes: one small rewrite per file; pipeline.py lists them in order."""
