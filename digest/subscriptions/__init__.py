"""Subscribers: preferences validation, the signup lifecycle, signed links, votes, CSV."""
