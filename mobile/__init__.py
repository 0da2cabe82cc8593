"""The home-care nurses' web client (HTML, CSS and ES modules, no build step). A Python package only so that
its files ship inside PML's wheel; `api.mobile` serves them under /app/. It talks to PML over HTTP only."""
