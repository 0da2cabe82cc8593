"""Readers of catalogue sources (FEST M30 XML first) into catalogue releases."""
