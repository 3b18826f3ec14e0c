"""Identity: schools, people, carers, accounts and roles, OAuth clients, tokens and agreements."""
