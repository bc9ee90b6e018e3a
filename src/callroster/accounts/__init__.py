"""Accounts, users, roles, credentials."""
