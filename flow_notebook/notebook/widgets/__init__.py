"""Interactive panels for ``%flow``: dashboard, log viewer, instance picker, setup form.

Each panel keeps its logic (what rows to show, what a button does) in a plain model
class that tests drive without a browser, and draws through a renderer: a widget
renderer (ipywidgets, imported on first use) or a text/HTML one for frontends without
a widget manager. The front-door functions pick the renderer.
"""
