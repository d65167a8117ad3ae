"""One masking function for every output: configured secrets in every form a server may echo
them, and credentials of any origin by their shape."""

import base64

import pytest

from heatpump_monitor.masking import MASK, Secrets

B64 = base64.b64encode(b"admin:s3cret-pw").decode()


@pytest.mark.parametrize(("text", "expected"), [
    ("password s3cret-pw here", "password *** here"),
    (f"echo Authorization: Basic {B64}", "echo Authorization: Basic ***"),
    (f'{{"authorization": "Basic {B64}"}}', '{"authorization": "Basic ***"}'),
    (f"header {B64} alone", "header *** alone"),
    (f"unpadded {B64.rstrip('=')}!", "unpadded ***!"),
    ("token tok-123456 and tok-123456", "token *** and ***"),
])
@pytest.mark.attack("6")
def test_configured_secrets_in_every_form(text, expected):
    s = Secrets(["tok-123456"], [("admin", "s3cret-pw")])
    assert s.mask(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
    ("AUTHORIZATION=Token xyz", "AUTHORIZATION=Token ***"),
    ("GET http://bob:hunter2@db:8086/query", "GET http://bob:***@db:8086/query"),
    ("/query?u=bob&p=hunter2&db=x", "/query?u=bob&p=***&db=x"),
    ("url?password=hunter2 next", "url?password=*** next"),
    ("nothing secret: http://db:8086/write?db=hp", "nothing secret: http://db:8086/write?db=hp"),
])
@pytest.mark.attack("6")
def test_credentials_of_any_origin_by_shape(text, expected):
    assert Secrets().mask(text) == expected


@pytest.mark.attack("6")
def test_short_secrets_do_not_mangle_text_but_their_shapes_are_masked():
    s = Secrets(["x", "ab"], [("u", "ab")])
    assert s.mask("a box of text") == "a box of text"
    assert s.mask(f"Authorization: Basic {base64.b64encode(b'u:ab').decode()}") == f"Authorization: Basic {MASK}"
    assert not Secrets(["", "ab"]) and Secrets(["abc"])


def test_a_secret_containing_another_is_masked_whole():
    assert Secrets(["secret", "secret-long-value"]).mask("v=secret-long-value") == "v=***"
