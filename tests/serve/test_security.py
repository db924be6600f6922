"""The guard in-process (Flask's test client): Host names, origins, and the token beyond loopback."""

import flask
import pytest

from siamese_caffe.serve import security


def app_with(guard):
    app = flask.Flask(__name__)
    guard.install(app)
    app.add_url_rule("/thing", "get", lambda: "seen")
    app.add_url_rule("/thing", "post", lambda: "changed", methods=["POST"])
    app.add_url_rule("/healthz", "health", lambda: "ok")
    return app.test_client()


@pytest.mark.parametrize("host, code", [("localhost:5000", 200), ("127.0.0.1:5000", 200),
                                        ("[::1]:5000", 200), ("evil.example:5000", 403),
                                        ("proxy.lan", 200), ("127.0.0.1.evil.example", 403)])
def test_loopback_server_answers_only_its_own_names(host, code):
    client = app_with(security.Guard("127.0.0.1", allowed_hosts=["proxy.lan"]))
    assert client.get("/thing", headers={"Host": host}).status_code == code


@pytest.mark.parametrize("headers, code", [
    ({}, 200),                                               # curl, scripts
    ({"Origin": "http://localhost:5000"}, 200),              # the server's own page
    ({"Origin": "http://localhost:5001"}, 403),              # another local server's page
    ({"Origin": "https://evil.example"}, 403),
    ({"Referer": "http://evil.example/x"}, 403),
    ({"Sec-Fetch-Site": "same-site"}, 403),
    ({"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost:5000"}, 200),
])
def test_changes_from_another_origin_are_refused(headers, code):
    client = app_with(security.Guard("127.0.0.1"))
    answer = client.post("/thing", headers={"Host": "localhost:5000", **headers})
    assert answer.status_code == code
    assert client.get("/thing", headers={"Host": "localhost:5000", **headers}).status_code == 200


def test_beyond_loopback_every_route_but_health_needs_the_token():
    client = app_with(security.Guard("0.0.0.0", token="s3cret"))
    host = {"Host": "gpu-box.lan:5000"}
    assert client.get("/thing", headers=host).status_code == 401
    assert client.get("/healthz", headers=host).status_code == 200
    assert client.get("/thing", headers={**host, "Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/thing", headers={**host, "Authorization": "Bearer s3cret"}).status_code == 200
    opened = client.get("/thing?token=s3cret&x=1", headers=host)
    assert opened.status_code == 302 and opened.headers["Location"] == "/thing?x=1"
    assert "HttpOnly" in opened.headers["Set-Cookie"]
    assert client.get("/thing", headers=host).status_code == 200          # the cookie now
    assert client.post("/thing", headers={**host, "Origin": "http://evil.example"}).status_code == 403


def test_a_generated_token_is_long_and_fresh():
    first, second = security.new_token(), security.new_token()
    assert first != second and len(first) >= 24


def test_pages_may_load_nothing_from_elsewhere_and_cannot_be_framed():
    client = app_with(security.Guard("127.0.0.1"))
    answer = client.get("/thing", headers={"Host": "localhost"})
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["X-Frame-Options"] == "DENY"
