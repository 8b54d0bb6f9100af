"""The student's side: the conversation, the composer, sessions, profiles and settings."""
