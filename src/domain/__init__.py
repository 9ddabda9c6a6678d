"""The pure model of Accounts Sync. Imports nothing outside the standard library."""
