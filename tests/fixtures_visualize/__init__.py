"""Graphs, fabricated agent events and SVG/HTML readers for the visualize tests."""
