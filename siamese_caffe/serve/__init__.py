"""Stage 6, serving: DIGITS' pages and REST routes in one Flask app (docs/rest-api.md).

server.create_app builds the app from two blueprints, api (DIGITS' JSON routes, api.py)
and pages (the web pages, pages.py), and one service object (service.JobService, which
a view finds with web.service()). Every route, and the view that answers it:

    POST   /models/images/generic/infer_one.json    api.infer_one
    POST   /models/images/generic/infer_many.json   api.infer_many
    POST   /models/images/generic/infer_db.json     api.infer_db
    GET    /healthz                                  api.healthz
    POST   /datasets/images/generic.json             api.create_dataset_json
    POST   /models/images/generic.json               api.create_model_json
    GET    /models/<id>.json                         api.show_model
    GET    /datasets/<id>.json                       api.show_dataset
    GET    /index.json                               api.index_json
    GET    /completed_jobs.json                      api.completed_jobs
    GET    /jobs/<id>/table_data.json                api.table_data
    GET    /datasets|models|jobs/<id>/status         api.dataset_status, model_status, job_status
    POST   /datasets|models|jobs/<id>/abort          api.abort_job
    POST   /models|jobs/<id>/resume                  api.resume_job
    DELETE /datasets|models|jobs/<id>                api.delete_job
    POST   /abort_jobs                               api.abort_jobs
    DELETE /jobs                                     api.delete_jobs
    GET    /jobs/<id>                                api.job_page (302 to its page)
    PUT    /jobs/<id>                                api.edit_job
    POST   /login                                    api.login
    POST   /models/<id>/verify.json                  api.verify_json
    POST   /models/<id>/galleries.json               api.create_gallery
    GET    /models/<id>/galleries.json               api.list_galleries
    GET    /galleries/<id>.json                      api.show_gallery
    POST   /galleries/<id>/search.json               api.search_gallery
    GET    /                                         pages.home
    GET    /datasets/images/generic/new, /datasets/new    pages.new_dataset
    POST   /datasets/images/generic                  pages.create_dataset_page
    GET    /datasets/<id>                            pages.dataset_page
    GET    /datasets/<id>/files/<name>               pages.dataset_file
    GET    /models/images/generic/new, /models/new   pages.new_model
    POST   /models/images/generic                    pages.create_model_page
    POST   /models/visualize-network                 pages.visualize_network
    GET    /models/<id>                              pages.model_page
    GET    /models/<id>/progress.json                pages.model_progress
    GET    /models/<id>/files/<name>                 pages.model_file
    POST   /models/images/generic/infer_one          pages.test_one
    POST   /models/images/generic/infer_many         pages.test_many
    GET    /models/<id>/results/<rid>.csv|.json      pages.test_many_result
    POST   /models/<id>/verify                       pages.verify_page
    POST   /models/<id>/search                       pages.search_page
    POST   /models/<id>/galleries                    pages.build_gallery_page
    GET    /galleries/<id>/images/<n>                pages.gallery_image
    GET    /models/<id>/download[.<ext>]             pages.download_model (also POST)
    POST   /models/images/generic/infer_db           pages.test_db
    POST   /models/visualize-lr                      pages.visualize_lr
    GET    /clone/<id>                               pages.clone_job

A view reads the request (web.py) and sends what a builder in answers.py makes without
Flask (pictures.py for the pages' pictures); a JSON route and the page beside it share
the builder. server.py turns every failure into DIGITS' JSON error (or an error page).
Beside them: the jobs the routes create and run (creation, registry, jobqueue), DIGITS'
status words and documents (digits_api), request fields (inputs), loaded nets
(netcache), kept Test Many results (results), verify and galleries (galleries), and the guards: paths inside the data
roots (pathguard), origin, host and token (security); defaults in settings.
"""
