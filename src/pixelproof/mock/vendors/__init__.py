"""The vendor role: one module per vendor dialect."""
