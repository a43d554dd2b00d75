"""Parameter styles, the keyword collision rule and security schemes, as the document says."""

from __future__ import annotations

import base64

from tinkex.core.model.naming import class_names, keyword_names
from tinkex.core.paramstyle import cookie_header, header_value, path_value, query_pairs
from tinkex.core.security import Credentials, SecurityScheme, apply, resolve


def test_path_styles():
    assert path_value("id", [3, 4]) == "3,4"
    assert path_value("id", [3, 4], "label", explode=True) == ".3.4"
    assert path_value("id", [3, 4], "matrix", explode=True) == ";id=3;id=4"
    assert path_value("id", {"a": 1, "b": 2}, "simple", explode=True) == "a=1,b=2"
    assert path_value("id", "a/b c") == "a%2Fb%20c"
    assert path_value("id", True) == "true"


def test_query_styles():
    assert query_pairs("ids", [1, 2]) == [("ids", "1"), ("ids", "2")]
    assert query_pairs("ids", [1, 2], "form", explode=False) == [("ids", "1,2")]
    assert query_pairs("ids", [1, 2], "pipeDelimited", explode=False) == [("ids", "1|2")]
    assert query_pairs("ids", [1, 2], "spaceDelimited", explode=False) == [("ids", "1 2")]
    assert query_pairs("f", {"a": {"b": 1}, "c": [2]}, "deepObject") == \
        [("f[a][b]", "1"), ("f[c][]", "2")]
    assert query_pairs("x", None) == []


def test_header_and_cookie_values():
    assert header_value([1, 2]) == "1,2"
    assert header_value({"a": 1}, explode=True) == "a=1"
    assert cookie_header([("s", "a b;c")]) == "s=a%20b%3Bc"


def test_collision_rule_is_deterministic_and_documented():
    names = keyword_names([("body", "username"), ("path", "username"), ("query", "timeout"),
                           ("header", "Idempotency-Key"), ("query", "a-b"), ("query", "a_b")])
    assert names == ["username_body", "username", "timeout_query", "idempotency_key_header",
                     "a_b", "a_b_query"]


def test_class_names_keep_plain_names_first():
    assert class_names(["pet", "Pet", "v1.Pet", "List_Pet_"]) == \
        {"pet": "Pet_2", "Pet": "Pet", "v1.Pet": "V1Pet", "List_Pet_": "ListPet"}


def test_security_schemes_send_what_they_say():
    out = Credentials()
    apply(SecurityScheme("q", "apiKey", "query", "api_key"), "k1", out)
    apply(SecurityScheme("c", "apiKey", "cookie", "sid"), "k2", out)
    apply(SecurityScheme("b", "http", scheme="basic"), "u:p", out)
    assert out.query == [("api_key", "k1")] and out.cookies == [("sid", "k2")]
    assert out.headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    schemes = {"bearer": SecurityScheme("bearer", "http", scheme="bearer"),
               "key": SecurityScheme("key", "apiKey", "header", "X-Key")}
    both = resolve("op", (("key", "bearer"),), schemes, {"key": "a", "bearer": "b"})
    assert both is not None and both.headers == {"X-Key": "a", "Authorization": "Bearer b"}
    assert resolve("op", (("key",),), schemes, {"key": None}) is None
    optional = resolve("op", (("key",), ()), schemes, {"key": None})
    assert optional is not None and optional.headers == {}
