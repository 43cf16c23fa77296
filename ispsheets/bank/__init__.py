"""Bank transfers: statement files parsed into `StatementLine`s, matched to clients by a pure
matcher, and imported into Payments exactly once (see README, "Bank transfers")."""
