"""Importing a school's roll from its MIS (CSV or JSON), upserting by external reference."""
