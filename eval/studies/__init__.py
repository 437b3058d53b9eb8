"""One-off studies behind the shipped settings: each is a re-runnable script (README "Quality")."""
