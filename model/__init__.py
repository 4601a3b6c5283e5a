"""The torch side of Copydesk: load a model, generate batched copy, parse it.

Importing this package is cheap: torch and transformers are imported only inside the functions that
need them. Entry points: ``model.backend.load_generator`` and ``model.copy.write_copy``.
"""
