"""Real services for tests: servers the code under test talks to over real sockets."""
