"""Use cases: every business rule, permission and transaction of the help desk."""
