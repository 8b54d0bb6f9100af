"""Practice: the panel, the menu, due reviews, progress and the hint-don't-tell guard."""
