"""The bundled browser test app (static HTML and JS, the DOM contract of PROTOCOL.md section 6), as package data."""
