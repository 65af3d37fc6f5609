"""Mithril domain services: each owns one concern and talks to the API through a Protocol.

Services receive their collaborators through the constructor, so a test passes a
small fake object instead of patching module paths.
"""
