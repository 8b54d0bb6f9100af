"""The desktop window: Qt infrastructure here (context, model worker, round process, errors), and
one package per feature (chat, teacher, adaptation, practice) that plugs into the main window
through app.ui.features."""
