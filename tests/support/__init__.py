"""Helpers for the end-to-end tests: the managed Asterisk and SIPp."""
