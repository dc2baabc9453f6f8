"""What drives the proxy from the client side: the browser app (page driver) and the headless wire client."""
