"""The redactor: the safety net that masks known secrets in any text leaving the process."""

from __future__ import annotations

import threading

from bbvars.errors import setting
from bbvars.redaction import MASK, MIN_LENGTH, Redactor


def test_masks_every_occurrence_of_every_secret():
    redact = Redactor(["s3cr3t-value", None, ""])
    redact.add("another-one")
    assert redact("a s3cr3t-value b s3cr3t-value c another-one") == f"a {MASK} b {MASK} c {MASK}"


def test_the_longest_secret_is_masked_first_so_no_part_is_left():
    redact = Redactor(["abcd", "abcdefgh"])
    assert redact("xx abcdefgh yy") == f"xx {MASK} yy"


def test_short_values_are_not_masked():
    redact = Redactor(["yes", "1"])
    assert MIN_LENGTH == 4
    assert redact("yes, 1 of them") == "yes, 1 of them"


def test_listeners_hear_each_new_secret_once():
    heard: list[str] = []
    redact = Redactor()
    redact.listeners.append(heard.append)
    for secret in ("one-secret", "one-secret", "two-secret", None):
        redact.add(secret)
    assert heard == ["one-secret", "two-secret"]
    assert sorted(redact.secrets) == ["one-secret", "two-secret"]


def test_adding_from_many_threads():
    redact = Redactor()
    threads = [threading.Thread(target=redact.add, args=(f"secret-{i:03d}",)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(redact.secrets) == 50 and redact("secret-042") == MASK


def test_a_secret_is_masked_in_the_forms_a_server_echoes_it_in():
    import json
    from urllib.parse import quote, quote_plus

    secret = 'pa"ss\\wo\trd-é/+&'
    redact = Redactor([secret])
    for form in (json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1],
                 quote(secret, safe=""), quote(secret), quote_plus(secret)):
        assert form != secret
        assert redact(f"echo: {form}.") == f"echo: {MASK}.", form


def test_basic_credentials_are_masked_as_their_header():
    import base64

    redact = Redactor()
    heard: list[str] = []
    redact.listeners.append(heard.append)
    redact.add_basic("client-id", "client-secret")
    header = base64.b64encode(b"client-id:client-secret").decode()
    assert redact(f"Authorization: Basic {header}") == f"Authorization: Basic {MASK}"
    assert redact("client-secret") == MASK
    assert heard == ["client-secret", header]  # the raw secret first: a listener (::add-mask::) masks it first
    redact.add_basic("client-id", None)  # no secret, nothing to mask
    assert heard == ["client-secret", header]


def test_listeners_hear_each_form_once():
    heard: list[str] = []
    redact = Redactor()
    redact.listeners.append(heard.append)
    redact.add('a"b-secret')
    redact.add('a"b-secret')
    assert heard[0] == 'a"b-secret' and 'a\\"b-secret' in heard and len(heard) == len(set(heard))


def test_listeners_hear_short_secrets_too():
    heard: list[str] = []
    redact = Redactor()
    redact.listeners.append(heard.append)
    redact.add("yes")
    redact.add("yes")
    assert heard == ["yes"] and redact("yes") == "yes"


def test_the_secrets_a_run_was_given_are_registered_alike_from_settings_or_raw_text():
    import base64

    from bbvars.request.secrets import register_given
    from bbvars.request.settings import Settings

    given = {"client_id": "cid", "client_secret": "consumer-S3cret", "access_token": "access-T0ken",
             "atlassian_account_email": "me@example.com", "atlassian_api_token": "ATATT-api-T0ken",
             "fingerprint_key": "fp-K3y-0123456789abcdef"}
    from_raw, from_settings = Redactor(), Redactor()
    register_given(given, from_raw)
    register_given(Settings(**given), from_settings)
    for redactor in (from_raw, from_settings):
        shown = redactor(" ".join([*given.values(), base64.b64encode(b"cid:consumer-S3cret").decode(),
                                   base64.b64encode(b"me@example.com:ATATT-api-T0ken").decode()]))
        for name, value in given.items():
            assert (value in shown) == (name in ("client_id", "atlassian_account_email")), (name, shown)
        assert "Y2lk" not in shown and "bWVA" not in shown, shown  # the Basic headers are masked whole


def test_a_secret_holding_a_setting_marker_is_masked_whole_and_markers_are_still_spoken():
    secret = f"pa55{setting('timeout')}word"
    redactor = Redactor([secret], voice=lambda name: f"--{name}")
    assert redactor(f"refused {secret}; raise {setting('timeout')}") == "refused ***; raise --timeout"


def test_text_that_only_looks_like_a_marker_is_left_as_it_is_and_mask_never_speaks():
    def voice(name: str) -> str:
        return {"timeout": "--timeout"}[name]  # as settings.voice: a KeyError for no setting of bbvars'

    redactor = Redactor(["s3cret-value"], voice=voice)
    # Text from elsewhere cannot know this process's marker, whatever name it gives.
    assert redactor(f"{{setting:timeout}} {{setting:region}} {setting('timeout')}") == (
        "{setting:timeout} {setting:region} --timeout")
    assert redactor(setting("region")) == "region"  # a marker of no setting: the name, never a traceback
    assert redactor.mask(f"{setting('timeout')} s3cret-value") == f"{setting('timeout')} ***"
