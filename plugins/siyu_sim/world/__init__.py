"""The synthetic retail world: persons, their identifiers in every source, and the truth about them."""
