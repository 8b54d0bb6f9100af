"""The `tutorloop` subcommands: no Qt here, so scripts and cron jobs start in a second."""
