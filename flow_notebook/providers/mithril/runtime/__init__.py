"""Instance runtime: the startup script builder and the paths it shares."""
