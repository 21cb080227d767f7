"""The REST API `alluse run` serves (issue #17): read-only views of the running system, apart from the collection
of what they show (the components keep their state; `views.py` reads it on the loop, per request)."""
