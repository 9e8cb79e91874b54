"""Money: estimates and budgets, the cost ledger and dashboard, the result cache."""
