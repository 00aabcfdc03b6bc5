"""The manifest: parsed whole into jobs before any request, every error naming the manifest and the target; its
JSON Schema generated from the settings table and checked with check-jsonschema."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bbvars.errors import InputError
from bbvars.models import Target, Variable
from bbvars.redaction import Redactor
from bbvars.request import manifest, manifest_schema
from bbvars.request.run import request_of
from bbvars.request.settings import SETTINGS, Setting, Settings
from tests.support import ROOT, FakeStdin, deadline

SCHEMA_FILE = ROOT / "schema" / "manifest.schema.json"
OUTPUTS = {
    "api_url": {"value": "https://api.example.com", "type": "string", "sensitive": False},
    "db_host": {"value": "db.internal", "type": "string", "sensitive": False},
    "db-port": {"value": 5432, "type": "number", "sensitive": False},
    "db_password": {"value": "pw-Manifest-77", "type": "string", "sensitive": True},
}
ISSUE_EXAMPLE = """\
version: 1
workspace: acme                  # default for every target
sources:                         # named documents, read once
  infra: {file: infra-outputs.json}
defaults: {upper: true}          # any per-target setting
targets:
  - repository: api
    environment: Production
    from: infra
    include: ["db_*", "api_url"]
    secured: [DB_HOST]
    variables: {LOG_LEVEL: info}
  - repository: web
    from: infra
    include: [api_url]
    prefix: PUBLIC_
  - variables: {REGION: eu-west-1}
"""


def write(tmp_path, text: str, name: str = "bbvars.yml", outputs: dict | None = OUTPUTS):
    (tmp_path / "infra-outputs.json").write_text(json.dumps(outputs))
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def jobs_of(path, stdin: str | None = None, **settings) -> list:
    return manifest.jobs(Settings(manifest=str(path), **settings), FakeStdin(stdin) if stdin is not None else None)


def variables(job) -> dict[str, tuple[str, bool]]:
    return {v.key: (v.value, v.secured) for v in job.variables}


def test_the_issue_s_example(tmp_path):
    api, web, workspace = jobs_of(write(tmp_path, ISSUE_EXAMPLE))

    assert api.target == Target("acme", "api", "Production") and api.policy.upper
    assert variables(api) == {"API_URL": ("https://api.example.com", False), "DB_HOST": ("db.internal", True),
                              "DB_PASSWORD": ("pw-Manifest-77", True),
                              "LOG_LEVEL": ("info", False)}
    assert web.target == Target("acme", "web") and variables(web) == {"PUBLIC_API_URL": ("https://api.example.com",
                                                                                           False)}
    assert workspace.target == Target("acme") and variables(workspace) == {"REGION": ("eu-west-1", False)}
    assert [j.policy.prune for j in (api, web, workspace)] == [False, False, False]


def test_json_manifests_lists_of_sources_exclude_and_literal_values_over_source_keys(tmp_path):
    (tmp_path / "extra.yaml").write_text("log_level: info\ndb_host: from-extra\n")
    path = write(tmp_path, json.dumps({
        "version": 1,
        "sources": {"infra": {"file": "infra-outputs.json"}, "extra": {"file": "extra.yaml"}},
        "targets": [{"workspace": "other", "repository": "api", "from": ["infra", "extra"],
                     "exclude": ["db_*", "db-*"], "variables": {"api_url": "https://override", "N": 3}}],
    }), name="bbvars.json")

    (only,) = jobs_of(path)

    assert only.target == Target("other", "api")
    assert variables(only) == {"log_level": ("info", False), "api_url": ("https://override", False), "N": ("3", False)}


def test_a_later_source_overrides_an_earlier_one_and_sensitive_stays_secured(tmp_path):
    (tmp_path / "local.yml").write_text("db_host: localhost\ndb_password: not-sensitive-here\n")
    (only,) = jobs_of(write(tmp_path, """\
        version: 1
        workspace: acme
        sources: {infra: {file: infra-outputs.json}, local: {file: local.yml}}
        targets:
          - {from: [infra, local], include: ["db*"], upper: true, variables: {DB_PASSWORD: literal-one}}
        """))
    assert variables(only) == {"DB_HOST": ("localhost", False), "DB_PORT": ("5432", False),
                               "DB_PASSWORD": ("literal-one", True)}


def test_a_dotenv_source(tmp_path):
    (tmp_path / "app.env").write_text("# comment\nAPI_URL=https://env.example.com\nexport REGION=eu-west-1\n")
    (only,) = jobs_of(write(tmp_path, "version: 1\nworkspace: acme\nsources: {app: {file: app.env}}\n"
                                      "targets: [{from: app}]\n"))
    assert variables(only) == {"API_URL": ("https://env.example.com", False), "REGION": ("eu-west-1", False)}


def test_literal_variables_are_written_as_given_and_prefix_upper_apply_to_source_keys(tmp_path):
    (only,) = jobs_of(write(tmp_path, """\
        version: 1
        workspace: acme
        sources: {infra: {file: infra-outputs.json}}
        targets:
          - {from: infra, include: [api_url], prefix: web_, upper: true, variables: {Mixed_Case: "1.10"}}
        """))
    assert variables(only) == {"WEB_API_URL": ("https://api.example.com", False), "Mixed_Case": ("1.10", False)}


def test_sensitive_outputs_stay_secured_wherever_they_go(tmp_path):
    jobs = jobs_of(write(tmp_path, """\
        version: 1
        workspace: acme
        sources: {infra: {file: infra-outputs.json}}
        targets:
          - {repository: api, from: infra, include: [db_password]}
          - {repository: api, environment: Test, from: infra, include: ["db_*"], prefix: X_, upper: true}
          - {from: infra, secured: ["*"], exclude: [db_password], upper: true}
        """))
    assert variables(jobs[0]) == {"db_password": ("pw-Manifest-77", True)}
    assert variables(jobs[1])["X_DB_PASSWORD"] == ("pw-Manifest-77", True)
    assert all(secured for _, secured in variables(jobs[2]).values())


def test_a_source_on_standard_input_is_read_once_for_every_target(tmp_path):
    path = write(tmp_path, """\
        version: 1
        workspace: acme
        sources: {infra: {file: "-"}}
        targets:
          - {repository: api, from: infra, upper: true}
          - {from: infra, include: [api_url]}
        """)
    api, workspace = jobs_of(path, stdin=json.dumps(OUTPUTS))
    assert len(api.variables) == 4 and variables(workspace) == {"api_url": ("https://api.example.com", False)}


def test_defaults_the_target_over_them_and_the_surface_over_both(tmp_path):
    path = write(tmp_path, """\
        version: 1
        workspace: acme
        defaults: {prune: false, prefix: D_}
        targets:
          - {name: a, variables: {K: v}}
          - {name: b, repository: api, prefix: "", variables: {K: v}, prune: true}
        """)
    a, b = jobs_of(path)
    assert (a.policy.prefix, a.policy.prune, b.policy.prefix, b.policy.prune) == ("D_", False, "", True)
    assert (a.name, b.name) == ("a", "b")
    a, b = jobs_of(path, prune=True, concurrency=3)  # --prune prunes every target; run settings are carried
    carried = request_of(Settings(manifest=str(path), prune=True, concurrency=3, access_token="t"), [a, b], Redactor())
    assert (a.policy.prune, b.policy.prune, carried.concurrency) == (True, True, 3)


def test_the_surface_s_workspace_fills_in_only_where_the_manifest_names_none(tmp_path):
    path = write(tmp_path, "version: 1\ntargets:\n  - {variables: {K: v}}\n  - {workspace: own, variables: {K: v}}\n")
    first, second = jobs_of(path, workspace="from-cli")
    assert (first.target.workspace, second.target.workspace) == ("from-cli", "own")


def test_target_chooses_by_name_in_the_manifest_s_order_and_reads_only_their_sources(tmp_path):
    path = write(tmp_path, """\
        version: 1
        workspace: acme
        sources: {missing: {file: not-there.json}}
        targets:
          - {name: one, repository: a, variables: {A: "1"}}
          - {name: two, repository: b, from: missing}
          - {name: three, repository: c, variables: {C: "3"}}
        """)
    assert [j.name for j in jobs_of(path, targets=("three", "one"))] == ["one", "three"]
    with pytest.raises(InputError, match=r"no target named 'nope' \(the named targets: one, three, two\)"):
        jobs_of(path, targets=("nope",))


# -- every error names the manifest and the target, before any request ---------------------------------------------

BASE = "version: 1\nworkspace: acme\nsources: {infra: {file: infra-outputs.json}}\ntargets:\n"
BROKEN = {
    "not-yaml": ("version: [1\n", "bbvars.yml is neither valid JSON nor YAML"),
    "a-list": ("- 1\n", "bbvars.yml must be a mapping"),
    "no-version": ("targets: [{variables: {A: b}}]\n", "bbvars.yml: version: must be 1"),
    "version-2": ("version: 2\ntargets: [{variables: {A: b}}]\n",
                  "bbvars.yml: version: must be 1 (the format this bbvars reads), got 2"),
    "unknown-top": ("version: 1\ntarget: []\n", "bbvars.yml: the top level: unknown key 'target' (did you mean "
                                                "targets?)"),
    "no-targets": ("version: 1\ntargets: []\n", "bbvars.yml: targets: must be a list of one target or more"),
    "too-many": ("version: 1\nworkspace: acme\ntargets:\n" + "".join(f"  - {{repository: r{i}, variables: {{A: b}}}}\n"
                                                                      for i in range(1001)),
                 "bbvars.yml: targets: has 1,001 targets, more than 1,000: split the manifest"),
    "unknown-key": (BASE + "  - {repository: api, from: infra, exlude: [x]}\n",
                    "bbvars.yml: targets[0]: unknown key 'exlude' (did you mean exclude?)"),
    "bad-type": (BASE + "  - {repository: api, from: infra, upper: 'yes please'}\n",
                 "bbvars.yml: targets[0] (api): upper must be true or false, but it is text"),
    "bad-default": ("version: 1\ndefaults: {concurrency: 3}\ntargets: [{variables: {A: b}}]\n",
                    "bbvars.yml: defaults: unknown key 'concurrency'"),
    "no-workspace": ("version: 1\ntargets: [{variables: {A: b}}]\n",
                     "bbvars.yml: targets[0]: no workspace: set workspace at the top of the manifest or in the target"),
    "bad-slug": (BASE + "  - {repository: 'a b', from: infra}\n",
                 "bbvars.yml: targets[0]: repository 'a b' is not a slug"),
    "env-no-repo": (BASE + "  - {environment: Test, from: infra}\n",
                    "bbvars.yml: targets[0]: environment needs repository"),
    "nothing": (BASE + "  - {repository: api}\n", "bbvars.yml: targets[0] (api): gives no variables"),
    "unknown-source": (BASE + "  - {repository: api, from: [infra, infr]}\n",
                       "bbvars.yml: targets[0] (api): from names 'infr', which is not in sources (declared: infra)"),
    "unused-source": ("version: 1\nworkspace: acme\nsources: {infra: {file: infra-outputs.json}}\n"
                      "targets: [{variables: {A: b}}]\n", "bbvars.yml: sources.infra: is used by no target"),
    "missing-file": ("version: 1\nworkspace: acme\nsources: {infra: {file: nope.json}}\n"
                     "targets: [{from: infra}]\n", "bbvars.yml: sources.infra (nope.json): cannot be read: No such "
                                                   "file or directory (paths are relative to the manifest)"),
    "source-no-file": ("version: 1\nworkspace: acme\nsources: {infra: {path: x}}\ntargets: [{from: infra}]\n",
                       "bbvars.yml: sources.infra: unknown key 'path'"),
    "two-stdin": ("version: 1\nworkspace: acme\nsources: {a: {file: '-'}, b: {file: '-'}}\n"
                  "targets: [{from: [a, b]}]\n", "bbvars.yml: sources.b: reads standard input, as sources.a does"),
    "include-nothing": (BASE + "  - {repository: api, from: infra, include: [db_*, dbhost]}\n",
                        "bbvars.yml: targets[0] (api): include 'dbhost' matches no key of infra"),
    "exclude-nothing": (BASE + "  - {repository: api, from: infra, exclude: [API_URL]}\n",
                        "bbvars.yml: targets[0] (api): exclude 'API_URL' matches no key of infra"),
    "include-no-from": (BASE + "  - {repository: api, include: [a], variables: {A: b}}\n",
                        "bbvars.yml: targets[0] (api): include and exclude choose keys of the sources in from, and "
                        "there is no"),
    "same-place": (BASE + "  - {repository: api, environment: Production, from: infra}\n"
                          "  - {name: again, repository: API, environment: production, variables: {X: y}}\n",
                   "bbvars.yml: targets[1] (again): writes environment production of acme/API, as targets[0] "
                   "(api/Production) does: give each place once"),
    "same-name": (BASE + "  - {name: x, repository: api, from: infra}\n  - {name: x, from: infra}\n",
                  "bbvars.yml: targets[1] (x): has the name of targets[0] (x): names must differ"),
    "bad-key-after-prefix": (BASE + "  - {repository: api, from: infra, include: [db-port]}\n",
                             "bbvars.yml: targets[0] (api): sources.infra (infra-outputs.json): 'db-port' is not a "
                             "valid Bitbucket variable name: use ASCII letters, digits and underscores, not starting "
                             "with a digit (use upper: true"),
    "bad-prefix": (BASE + "  - {repository: api, from: infra, include: [api_url], prefix: 1x}\n",
                   "bbvars.yml: targets[0] (api): sources.infra (infra-outputs.json): '1xapi_url' is not a valid"),
    "collision-after-upper": (BASE + "  - {repository: api, from: infra, upper: true, variables: {x: '1'}}\n"
                                     "  - {repository: web, from: [infra, also], upper: true}\n",
                              None),  # replaced below: needs a second source
    "bad-literal-key": (BASE + "  - {repository: api, from: infra, upper: true, variables: {'my key': v}}\n",
                        "bbvars.yml: targets[0] (api): variables: 'my key' is not a valid Bitbucket variable name"),
    "environment-line-break": (BASE + '  - {repository: api, environment: "Test\\n::error::forged", from: infra}\n',
                               "bbvars.yml: targets[0]: environment holds a line break or a control character"),
    "null-literal": (BASE + "  - {repository: api, variables: {K: null}}\n",
                     "bbvars.yml: targets[0] (api): variables: K is null"),
    "secured-unknown": (BASE + "  - {repository: api, from: infra, include: [api_url], secured: [db_password]}\n",
                        "bbvars.yml: targets[0] (api): secured names db_password, which this target does not write"),
    "bad-name": (BASE + "  - {name: 'a,b', from: infra}\n", "bbvars.yml: targets[0].name: 'a,b' is not a name"),
    "bad-source-document": ("version: 1\nworkspace: acme\nsources: {infra: {file: bad.json}}\n"
                            "targets: [{from: infra}]\n", "bbvars.yml: sources.infra (bad.json) is neither valid JSON "
                                                          "nor YAML"),
    "empty-source": ("version: 1\nworkspace: acme\nsources: {infra: {file: empty.json}}\n"
                     "targets: [{from: infra}]\n", "bbvars.yml: targets[0] (workspace acme): gets no variables: "
                                                   "infra has none that it chooses"),
    "empty-source-prune": ("version: 1\nworkspace: acme\nsources: {infra: {file: empty.json}}\n"
                           "targets: [{from: infra, prune: true, allow_empty: true}]\n",
                           "bbvars.yml: targets[0] (workspace acme): gets no variables: infra has none that it "
                           "chooses"),
    "over-bitbucket-s-total": ("version: 1\nworkspace: acme\ntargets: [{variables: {BIG: '" + "x" * 120_001 + "'}}]\n",
                               "bbvars.yml: targets[0] (workspace acme): the input's 1 variables take 120,004 "
                               "characters"),
}
BROKEN["collision-after-upper"] = (
    "version: 1\nworkspace: acme\nsources: {infra: {file: infra-outputs.json}, also: {file: also.json}}\n"
    "targets:\n  - {repository: web, from: [infra, also], upper: true}\n",
    "bbvars.yml: targets[0] (web): two inputs give the key API_URL: 'api_url' from sources.infra (infra-outputs.json) "
    "and 'API_URL' from sources.also (also.json)")
# The ones the JSON Schema alone can tell (the rest need the sources, or compare targets with each other).
SCHEMA_CATCHES = {"too-many", "a-list", "no-version", "version-2", "unknown-top", "no-targets", "unknown-key",
                  "bad-type",
                  "bad-default", "bad-slug", "env-no-repo", "nothing", "source-no-file", "include-no-from",
                  "null-literal", "bad-name", "environment-line-break"}


def broken_manifest(tmp_path, case: str):
    (tmp_path / "also.json").write_text('{"API_URL": "x"}')
    (tmp_path / "bad.json").write_text('{"a": ')
    (tmp_path / "empty.json").write_text("{}")
    return write(tmp_path, BROKEN[case][0])


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_manifest_is_one_line_naming_the_manifest_and_the_target(tmp_path, case, monkeypatch):
    monkeypatch.chdir(tmp_path)
    broken_manifest(tmp_path, case)
    with pytest.raises(InputError) as caught:
        manifest.jobs(Settings(manifest="bbvars.yml"), FakeStdin("{}"))
    message = str(caught.value)
    assert message.startswith(BROKEN[case][1]), message
    assert "\n" not in message and "pw-Manifest-77" not in message


def test_the_schema_file_is_generated_from_the_settings_table():
    assert json.loads(SCHEMA_FILE.read_text()) == manifest_schema.json_schema(), (
        "schema/manifest.schema.json differs from the code: run `python -m bbvars.request.manifest_schema > "
        "schema/manifest.schema.json`")


def check_jsonschema(*paths) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile", str(SCHEMA_FILE),
                           *map(str, paths)], capture_output=True, text=True, timeout=120)


def test_check_jsonschema_accepts_the_examples_and_refuses_what_the_schema_can_tell(tmp_path):
    good = [write(tmp_path, ISSUE_EXAMPLE, "issue.yml"), ROOT / "examples" / "manifest" / "bbvars.yml"]
    assert check_jsonschema(*good).returncode == 0, check_jsonschema(*good).stdout
    refused = []
    for case in sorted(SCHEMA_CATCHES):
        folder = tmp_path / case
        folder.mkdir()
        refused.append(broken_manifest(folder, case))
    proc = check_jsonschema(*refused)
    assert proc.returncode == 1
    for path in refused:  # every file is named among the failures
        assert str(path) in proc.stdout, f"the schema accepted {path.parent.name}: {proc.stdout}"


def test_a_per_target_row_added_to_the_table_flows_into_the_format_and_the_schema(tmp_path, monkeypatch):
    row = Setting("max_deletes", "int", "refuse to delete more than this many", default=None, bounds=(0, 100),
                  per_target=True)
    monkeypatch.setattr(manifest, "SETTINGS", (*SETTINGS, row))
    schema = manifest_schema.json_schema()
    assert schema["properties"]["defaults"]["properties"]["max_deletes"] == {
        "description": row.help, "type": "integer", "minimum": 0, "maximum": 100}
    assert "max_deletes" in schema["properties"]["targets"]["items"]["properties"]
    parsed = manifest.parse({"version": manifest.Number("1", 1), "workspace": "acme",
                             "defaults": {"max_deletes": manifest.Number("5", 5)},
                             "targets": [{"variables": {"A": "b"}}]}, "m.yml", tmp_path)
    assert parsed.targets[0].settings == {"max_deletes": 5}
    with pytest.raises(InputError, match=r"m.yml: defaults.max_deletes must be between 0 and 100, got 500"):
        manifest.parse({"version": manifest.Number("1", 1), "workspace": "acme",
                        "defaults": {"max_deletes": manifest.Number("500", 500)},
                        "targets": [{"variables": {"A": "b"}}]}, "m.yml", tmp_path)


def test_jobs_carry_variables_not_values_in_their_repr(tmp_path):
    (api, *_) = jobs_of(write(tmp_path, ISSUE_EXAMPLE))
    assert "pw-Manifest-77" not in repr(api) and isinstance(api.variables[0], Variable)


def test_the_manifest_itself_on_standard_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "unused: true\n")
    (only,) = jobs_of("-", stdin="version: 1\nworkspace: acme\nsources: {infra: {file: infra-outputs.json}}\n"
                                "targets: [{from: infra, include: [api_url]}]\n")
    assert variables(only) == {"api_url": ("https://api.example.com", False)}
    with pytest.raises(InputError, match=r"^the manifest on standard input: sources.infra: reads standard input, "
                                         r"which the manifest itself was read from"):
        jobs_of("-", stdin="version: 1\nworkspace: acme\nsources: {infra: {file: '-'}}\ntargets: [{from: infra}]\n")


# -- whatever the manifest, a checked one or one line --------------------------------------------------------------

WORDS = st.sampled_from(["version", "workspace", "sources", "defaults", "targets", "name", "repository",
                         "environment", "from", "include", "exclude", "variables", "secured", "prefix", "upper",
                         "prune", "file", "infra", "api", "*", "db_*", "-", "1", "a b", ""])
SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | WORDS | st.text(max_size=6)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WORDS, inner, max_size=4),
                      max_leaves=14)
MANIFESTS = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 1, "1", 2, None]), "workspace": st.sampled_from(["acme", "a b", 3, None]),
     "sources": st.sampled_from([{"infra": {"file": "infra-outputs.json"}}, {}, {"infra": {"file": "-"}},
                                 {"infra": {"file": "nope.json"}}, None]),
     "targets": st.lists(st.dictionaries(WORDS, VALUES, max_size=6), max_size=4) | VALUES},
    optional={"defaults": st.dictionaries(WORDS, VALUES, max_size=3)})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(document=MANIFESTS)
def test_any_manifest_is_jobs_or_one_input_error_line(tmp_path, document):
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps({k: v for k, v in document.items() if v is not None}))
    (tmp_path / "infra-outputs.json").write_text(json.dumps(OUTPUTS))
    try:
        jobs = manifest.jobs(Settings(manifest=str(path)), FakeStdin(json.dumps(OUTPUTS)))
    except InputError as error:
        assert str(error).startswith(str(path)) and "\n" not in str(error), str(error)
        assert "pw-Manifest-77" not in str(error)
        return
    assert jobs and all(job.variables for job in jobs)


def test_allow_empty_accepts_a_target_that_gets_no_variables(tmp_path):
    (tmp_path / "empty.json").write_text("{}")
    path = write(tmp_path, "version: 1\nworkspace: acme\nsources: {infra: {file: empty.json}}\n"
                           "targets: [{from: infra, allow_empty: true}, {repository: api, variables: {A: b}}]\n")
    empty, other = jobs_of(path)
    assert list(empty.variables) == [] and variables(other) == {"A": ("b", False)}
    assert [len(j.variables) for j in jobs_of(write(tmp_path, path.read_text().replace(", allow_empty: true", "")),
                                              allow_empty=True)] == [0, 1]  # --allow-empty for every target


# -- which files a manifest may read (request/sources.py) -----------------------------------------------------------

ONE_SOURCE = "version: 1\nworkspace: acme\nsources: {{s: {{file: {file}}}}}\ntargets: [{{repository: api, from: s}}]\n"


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A project (the working directory) with a manifest, and files out of it."""
    project = tmp_path / "project"
    (project / "deploy").mkdir(parents=True)
    (tmp_path / "outside.json").write_text('{"A": "1"}')
    (project / "inside.json").write_text('{"A": "1"}')
    (project / "deploy" / "link.json").symlink_to(tmp_path / "outside.json")
    (project / "deploy" / "environ").symlink_to("/proc/self/environ")
    os.mkfifo(project / "deploy" / "vars.fifo")
    monkeypatch.chdir(project)
    return project


def jobs_with(tree, file: str, host=None, **settings) -> list:
    from bbvars.request.sources import cli_host

    (tree / "deploy" / "bbvars.yml").write_text(ONE_SOURCE.format(file=json.dumps(file)))
    path = "deploy/bbvars.yml"
    return manifest.jobs(Settings(manifest=path, **settings), FakeStdin(""), host or cli_host(path))


@pytest.mark.parametrize("file, words", [
    ("../../outside.json", "is outside the working directory and the manifest's directory"),
    ("{outside}", "is outside the working directory"),  # an absolute path elsewhere
    ("link.json", "is outside the working directory"),  # a symbolic link out of the tree
    ("/proc/self/environ", "is outside the working directory"),
    ("environ", "is outside the working directory"),
    ("vars.fifo", "cannot be read: it is a FIFO (named pipe), not a regular file"),
    (".", "cannot be read: it is a directory, not a regular file"),
    ("/dev/zero", "is outside"),
])
def test_a_manifest_reads_only_regular_files_inside_the_tree(tree, file, words):
    file = file.format(outside=tree.parent / "outside.json")
    with pytest.raises(InputError) as caught:
        with deadline(10):
            jobs_with(tree, file)
    assert words in str(caught.value), str(caught.value)
    assert str(caught.value).startswith("deploy/bbvars.yml: sources.s (")


def test_the_working_directory_s_tree_and_the_manifest_s_own_are_both_allowed(tree):
    (job,) = jobs_with(tree, "../inside.json")  # beyond the manifest's directory, inside the working directory
    assert variables(job) == {"A": ("1", False)}


@pytest.mark.parametrize("file, words", [
    ("vars.fifo", "it is a FIFO (named pipe), not a regular file: to read a pipe, give - and pipe it"),
    ("/proc/self/environ", "it describes the running system"),
    ("environ", "it describes the running system"),
    ("/dev/null", "it is a device"),
])
def test_the_kind_of_file_is_checked_on_every_host(tree, file, words):
    from bbvars.request.sources import ANYWHERE

    with pytest.raises(InputError, match=re.escape(words)):
        with deadline(10):
            jobs_with(tree, file, host=ANYWHERE)


def test_a_manifest_that_is_a_fifo_is_refused_without_waiting(tree):
    with pytest.raises(InputError, match="cannot read the manifest deploy/vars.fifo: it is a FIFO"):
        with deadline(10):
            manifest.jobs(Settings(manifest="deploy/vars.fifo"), FakeStdin(""))


def test_a_ci_host_confines_the_manifest_itself(tree):
    from bbvars.request.sources import Host

    (tree.parent / "elsewhere.yml").write_text(ONE_SOURCE.format(file="outside.json"))
    with pytest.raises(InputError, match="the manifest ../elsewhere.yml is outside the clone"):
        manifest.jobs(Settings(manifest="../elsewhere.yml"), FakeStdin(""), Host((str(tree),), "the clone"),
                      confine_manifest=True)


def test_a_plain_value_holding_the_run_s_credential_names_the_target_and_the_key(tree):
    (tree / "deploy" / "leak.env").write_text("DUMP=a-S3cret-of-the-run\n")
    with pytest.raises(InputError) as caught:
        jobs_with(tree, "leak.env", access_token="a-S3cret-of-the-run")
    message = str(caught.value)
    assert message.startswith("deploy/bbvars.yml: targets[0] (api): the plain variable DUMP holds the run's "
                              "credential access_token")
    assert "S3cret" not in message
    (tree / "deploy" / "bbvars.yml").write_text(ONE_SOURCE.format(file="leak.env").replace("from: s", "from: s, "
                                                                                           "secured: [DUMP]"))
    (job,) = manifest.jobs(Settings(manifest="deploy/bbvars.yml", access_token="a-S3cret-of-the-run"))
    assert variables(job) == {"DUMP": ("a-S3cret-of-the-run", True)}


