"""Copydesk's RQ workers: the generate and publish pipelines and their job entry points."""
