"""Stage 6, serving: DIGITS' pages and REST routes in one Flask app.

server.py builds the app (create_app) from two blueprints: api.py (DIGITS' JSON routes)
and pages.py (the web pages); each lists its routes in its docstring. The answers are
built without Flask in answers.py (pictures.py for the pages' pictures) from the one
service object, service.JobService, that web.py finds for a view. Beside them: the jobs
the routes create and run (creation, registry, jobqueue), DIGITS' status words and
documents (digits_api), request fields (inputs), loaded nets (netcache), kept Test Many
results (results), and the guards: paths inside the data roots (pathguard), origin,
host and token (security); defaults in settings.
"""
