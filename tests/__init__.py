"""The tests as a package: shared helpers live in tests.support."""
