"""Report writers: terminal and markdown summaries, JSON, HTML matrix, diffs."""
