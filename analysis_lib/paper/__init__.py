"""The published paper as data: the registry of its numbers, its claims, the audit of their internal consistency and the scorecard that compares them with a build."""
