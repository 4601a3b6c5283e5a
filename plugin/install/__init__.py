"""Installing and leaving: Shopify token exchange and refresh, the authorization-code fallback, and the
uninstall, scopes and privacy (compliance) webhooks. WooCommerce connect lives beside these modules."""
