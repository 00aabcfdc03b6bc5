"""The per-target steps around a plan: the settings' prune policy and fingerprint key, and refusing a plan that
deletes more than max_deletes allows."""

from __future__ import annotations

from bbvars.sync import steps
from bbvars.sync.fingerprints import derive_key
from bbvars.models import RemoteVariable, Target, Variable
from bbvars.sync.plan import PrunePolicy, make_plan
from bbvars.request.settings import Settings


def test_the_prune_prefix_is_the_prefix_as_it_appears_in_the_keys():
    policy = steps.prune_policy(Settings(prune=True, prefix="tf-", upper=True, protect=("TF_KEEP*",), max_deletes=3))
    assert policy == PrunePolicy(True, "TF_", ("TF_KEEP*",), 3)
    assert steps.prune_policy(Settings(prune=True, prefix="app_")).prefix == "app_"


def test_the_fingerprint_key_comes_from_the_setting_else_from_the_credential_in_use():
    assert steps.fingerprint_key(Settings()) is None  # nothing secret: no key (never one derived from "")
    consumer = Settings(client_id="id", client_secret="consumer-secret", fingerprint=True)
    assert steps.credential_secret(consumer) == "consumer-secret"
    # The credential the run uses (auth.choose's precedence): an access token before a consumer, an API token first.
    both = Settings(client_id="id", client_secret="consumer-secret", access_token="tok", fingerprint=True)
    assert steps.credential_secret(both) == "tok"
    api = Settings(atlassian_account_email="me@example.com", atlassian_api_token="ATATT-api", access_token="tok")
    assert steps.credential_secret(api) == "ATATT-api"
    assert steps.fingerprint_key(consumer) == derive_key("consumer-secret")
    token = Settings(access_token="access-token", fingerprint=True)
    assert steps.credential_secret(token) == "access-token" and steps.fingerprint_key(token) == derive_key("access-token")
    chosen = Settings(client_id="id", client_secret="s", fingerprint=True, fingerprint_key="chosen")
    assert steps.fingerprint_key(chosen) == derive_key("chosen")


def test_a_plan_deleting_more_than_allowed_is_refused_naming_the_count_and_some_keys():
    existing = [RemoteVariable("{%d}" % i, f"K{i:02d}", "v", False) for i in range(12)]
    plan = make_plan([Variable("NEW", "1")], existing, prune=True)
    target = Target("acme", "api")
    assert steps.refusal(plan, PrunePolicy(True), target) is None
    assert steps.refusal(plan, PrunePolicy(True, max_deletes=12), target) is None
    message = steps.refusal(plan, PrunePolicy(True, max_deletes=11), target)
    assert message == ("prune would delete 12 variables of repository acme/api (K00, K01, K02 and 9 more), over the "
                       "max-deletes limit of 11: nothing was written; check the input, or raise the limit")
