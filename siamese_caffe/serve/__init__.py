"""Stage 6, serving: DIGITS' pages and REST routes in one Flask app (app, pages, jobroutes,
digits_api), the jobs they create and run (creation, service, registry, jobqueue), request
fields (inputs), loaded nets (netcache), and the guards: paths inside the data roots
(pathguard), origin, host and token (security); defaults in settings."""
