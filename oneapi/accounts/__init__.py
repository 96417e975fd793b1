"""Accounts: mail, one-time secrets, third-party sign-in, Turnstile and notifications."""
