"""The per-target steps around a plan: the settings' prune policy and fingerprint key, and refusing a plan that
deletes more than max_deletes allows."""

from __future__ import annotations

import re

import pytest

from bbvars.errors import InputError, setting
from bbvars.models import RemoteVariable, Target, Variable
from bbvars.request.run import policy_of
from bbvars.request.settings import Settings
from bbvars.sync import steps
from bbvars.sync.fingerprints import derive_key
from bbvars.sync.plan import PrunePolicy, make_plan


def test_the_prune_prefix_is_the_prefix_as_it_appears_in_the_keys():
    # The request's policy holds the prefix as it appears in the keys (policy_of applies upper).
    policy = steps.prune_policy(policy_of(Settings(prune=True, prefix="tf-", upper=True, protect=("TF_KEEP*",),
                                                   max_deletes=3)))
    assert policy == PrunePolicy(True, "TF_", ("TF_KEEP*",), 3)
    assert steps.prune_policy(policy_of(Settings(prune=True, prefix="app_"))).prefix == "app_"


def test_the_fingerprint_key_comes_only_from_the_setting_and_must_be_strong():
    assert steps.fingerprint_key(None, wanted=False) is None  # no target turns fingerprints on: no key needed
    assert steps.fingerprint_key("weak", wanted=False) is None
    strong = "Yk3nQ0x9-Fingerprint-Key-Steps_4vR2sLw7uE1"
    assert steps.fingerprint_key(strong, wanted=True) == derive_key(strong)
    assert steps.fingerprint_key(f" {strong}\n", wanted=True) == derive_key(strong)  # pasted with a newline
    # Never from the credential: a consumer secret or token is no fingerprint key, whatever it looks like.
    for text in (None, "", "consumer-secret", "a", "password123"):
        with pytest.raises(InputError, match="^" + re.escape(setting("fingerprint_key")) + r" (is not set|is too weak|is neither).*"
                                             r"`bbvars fingerprint-key`.*secrets\.token_urlsafe\(32\)"):
            steps.fingerprint_key(text, wanted=True)


def test_a_plan_deleting_more_than_allowed_is_refused_naming_the_count_and_some_keys():
    existing = [RemoteVariable(f"{{{i}}}", f"K{i:02d}", "v", False) for i in range(12)]
    plan = make_plan([Variable("NEW", "1")], existing, prune=True)
    target = Target("acme", "api")
    assert steps.refusal(plan, PrunePolicy(True), target) is None
    assert steps.refusal(plan, PrunePolicy(True, max_deletes=12), target) is None
    message = steps.refusal(plan, PrunePolicy(True, max_deletes=11), target)
    assert message == ("prune would delete 12 variables of repository acme/api (K00, K01, K02 and 9 more), over the "
                       "max-deletes limit of 11: nothing was written; check the input, or raise the limit")
