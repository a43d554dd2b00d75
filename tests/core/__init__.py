"""Tests of the generic core (package marker: keeps module names unique across test folders)."""
