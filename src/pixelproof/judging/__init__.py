"""Judging: the evidence gathered for a case, the verdict per rule kind, and failures that speak."""
