"""The face: the ``qapigen`` command line, the project's defaults, the main job (demo)."""
