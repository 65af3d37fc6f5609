"""The Mithril HTTP API layer: payload models (``dto``) and the client (``client``).

Only this package knows HTTP. Services above it call ``ApiClient`` methods and get
``dto`` models back, or ``flow_notebook.core.errors`` exceptions.
"""
