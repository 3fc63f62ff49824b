"""Helpers and corpora for the security tests (tests/test_security_*.py) and the campaign script."""
