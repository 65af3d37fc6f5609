"""Providers: local (embedded default) and Mithril."""
