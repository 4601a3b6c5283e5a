"""Store emulator: one Shopify shop and one WooCommerce store for tests, benchmarks and the demo.

Independent of plugin/ and worker/ on purpose, so tests cross-check our signing and parsing against it.
"""
