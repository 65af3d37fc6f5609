"""Providers: local (embedded default), Mithril and Slurm."""
