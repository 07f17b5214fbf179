"""Greetings: an example OpenITSM plugin with a table, a GraphQL API and periodic tasks."""
