"""Plumbing used everywhere: errors, atomic writes, logging, seeds, import graph."""
