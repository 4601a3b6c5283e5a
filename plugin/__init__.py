"""Copydesk's web side: the Flask app (`plugin.app.create_app`), webhook intake, platform adapters,
the database and the `copydesk` command. Nothing here imports torch or transformers."""
