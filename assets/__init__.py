"""The data tutorloop ships (prompt files, the replay set). Installed as the package
`tutorloop_assets` (see pyproject.toml), so a built wheel carries it; learner.assets finds it."""
