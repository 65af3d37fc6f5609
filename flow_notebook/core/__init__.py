"""Provider-agnostic core: models, interfaces, errors, configuration and registry."""
