"""The Class menu: create or join a class folder, sync in the background, and the class's status."""
