"""Bulk tools over the admin store: seeding users and tokens, and the devices export and import."""
