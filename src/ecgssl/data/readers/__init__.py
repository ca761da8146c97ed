"""Readers for the four datasets' native raw formats."""
