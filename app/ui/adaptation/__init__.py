"""Adaptation: the versions window, the chat's adapter kept on the active version, and the schedule."""
