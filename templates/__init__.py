"""Jinja2 prototxt templates (shipped inside the wheel as converter.templates)."""
