<?php
/**
 * Plugin Name: Copydesk questions
 * Description: The Copydesk customer questions widget: put [copydesk_questions] on a product page.
 *
 * Set COPYDESK_APP_URL and COPYDESK_WIDGET_KEY (the shop's publishable widget key, shown by Copydesk)
 * in wp-config.php. The key is not a secret; the widget never sees any store credentials.
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

add_shortcode( 'copydesk_questions', function () {
	if ( ! defined( 'COPYDESK_APP_URL' ) || ! defined( 'COPYDESK_WIDGET_KEY' ) ) {
		return '';
	}
	$app     = untrailingslashit( COPYDESK_APP_URL );
	$product = function_exists( 'is_product' ) && is_product() ? get_the_ID() : '';
	return sprintf(
		'<script src="%s" data-app="%s" data-key="%s" data-product="%s" defer></script>',
		esc_url( $app . '/questions/widget.js' ),
		esc_attr( $app ),
		esc_attr( COPYDESK_WIDGET_KEY ),
		esc_attr( (string) $product )
	);
} );
