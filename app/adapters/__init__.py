"""Adapters: one technology behind one port each. Vendor exceptions stop here."""
