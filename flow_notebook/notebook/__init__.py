"""The notebook layer: the ``%flow`` magics, their subcommands and the headless runner.

This layer talks only to ``flow_notebook.core`` (interfaces, models, errors, config
and the provider registry). Output is plain text, so it reads the same in terminal
IPython, in JupyterLab and under nbconvert/nbval.
"""
