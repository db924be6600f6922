"""What every view reads from Flask: the app's one JobService and the request's fields.

    service()        the JobService of the current app (create_app puts it in
                     app.extensions[EXTENSION])
    job_fields()     the form, job_id from the query string first (inference routes)
    create_fields()  the form or a JSON object's members (the create routes)
    user_fields()    where a username may come from; username() checks it
    wants_json()     DIGITS' rule for answering JSON rather than a page
"""

import flask
import werkzeug.exceptions as http

from . import creation

EXTENSION = "siamese_caffe"


def service():
    """The current app's service.JobService."""
    return flask.current_app.extensions[EXTENSION]


def wants_json():
    """DIGITS' rule: a path ending in .json, or Accept ranking JSON above HTML."""
    request = flask.request
    if request.path.endswith(".json"):
        return True
    accept = request.accept_mimetypes
    return accept["application/json"] > accept["text/html"]


def job_fields():
    """The form, with `job_id` taken from the query string first, as DIGITS did."""
    form = flask.request.form.copy()
    if "job_id" in flask.request.args:
        form["job_id"] = flask.request.args["job_id"]
    return form


def create_fields():
    """The create routes' fields: the form, or a JSON body's members (as Flask-WTF did)."""
    request = flask.request
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise http.BadRequest("the JSON body must be an object of fields")
        return {k: ("" if v is None else str(v)) for k, v in body.items()
                if k not in ("job_id", "username")}
    return request.form


def user_fields():
    """(form, query string and cookie): where DIGITS' optional username comes from."""
    request = flask.request
    cookie = {"username": request.cookies["username"]} if "username" in request.cookies else {}
    return request.form, {**request.args, **cookie}


def username():
    """The request's checked username or None (creation.FieldErrors when malformed)."""
    return creation.check_username(*user_fields())
