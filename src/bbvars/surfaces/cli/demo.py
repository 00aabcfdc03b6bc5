"""`bbvars demo`: the main job, end to end, against the embedded emulator: what a new user runs first."""

from __future__ import annotations

import argparse
import json

from bbvars.redaction import Redactor

# What `terraform output -json` prints for a small stack: names as Terraform likes them, one sensitive output.
SAMPLE_OUTPUTS = {
    "api_url": {"sensitive": False, "type": "string", "value": "https://api.example.com"},
    "bucket-name": {"sensitive": False, "type": "string", "value": "acme-artifacts-prod"},
    "replicas": {"sensitive": False, "type": "number", "value": 3},
    "allowed_cidrs": {"sensitive": False, "type": ["list", "string"], "value": ["10.0.0.0/16", "10.1.0.0/16"]},
    "db_password": {"sensitive": True, "type": "string", "value": "demo-only-Pa55word"},
}


# How to go on after the demo: the emulator on its default port, the exports it prints, one sync and one list.
TRY_IT = (
    "bbvars emulator",
    "export BITBUCKET_API_URL=http://127.0.0.1:7990/2.0 BITBUCKET_TOKEN_URL=http://127.0.0.1:7990/site/oauth2/"
    "access_token BITBUCKET_CLIENT_ID=demo-client BITBUCKET_CLIENT_SECRET=demo-secret",
    "bbvars sync -w acme -r api -e Test --var GREETING=hello --var API_KEY=s3cret --secured API_KEY",
    "bbvars list -w acme -r api -e Test",
)


def try_it_text() -> str:
    return "\n".join([
        "Try your own commands, still offline: start the emulator in another terminal (Ctrl-C stops it),",
        f"  {TRY_IT[0]}",
        "then, here, paste the export line it prints and run bbvars against it:",
        *(f"  {line}" for line in TRY_IT[1:]),
    ])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "Nothing leaves this machine: the emulator runs in-process on a free loopback port."


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    from bbvars.emulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REPOSITORY, DEMO_WORKSPACE, Emulator
    from bbvars.request.documents import collect
    from bbvars.request.settings import Settings
    from bbvars.sync import engine, report

    document = json.dumps(SAMPLE_OUTPUTS, indent=2)
    with Emulator.demo(port=0) as emulator:
        settings = Settings(
            client_id=DEMO_CLIENT_ID,
            client_secret=DEMO_CLIENT_SECRET,
            api_url=emulator.api_url,
            token_url=emulator.token_url,
            workspace=DEMO_WORKSPACE,
            repository=DEMO_REPOSITORY,
            environment="Production",
            upper=True,
        )
        print(f"Emulated Bitbucket API at {emulator.api_url} (workspace {DEMO_WORKSPACE}, repository "
              f"{DEMO_REPOSITORY}, environments Test/Staging/Production).\n")
        print("Input, as `terraform output -json` prints it (the sensitive value masked here):")
        for name, output in SAMPLE_OUTPUTS.items():
            shown = dict(output, value="***") if output["sensitive"] else output
            print(f"  {name}: {json.dumps(shown)}")
        print()
        command = (f"terraform output -json | bbvars sync --workspace {DEMO_WORKSPACE} --repository "
                   f"{DEMO_REPOSITORY} --environment Production --upper")
        results = []
        for note in ("first run: everything is new",
                     "second run: nothing to change, except the secured value, which Bitbucket never returns and so "
                     "is rewritten (unless --fingerprint is on)"):
            variables = collect([("standard input", document)], (), prefix="", upper=True, secured=())
            emulator.reset_requests()
            result = engine.run(settings, [engine.job_of(settings, variables)], redactor)
            results.append(result)
            print(f"$ {command}    # {note}")
            for line in report.summary(result):
                print(f"  {line}")
            print(f"  ({len(emulator.requests)} API requests)")
            print(report.to_json(result) + "\n")
        stored = emulator.variables(DEMO_WORKSPACE, repository=DEMO_REPOSITORY, environment="Production")
        print("Stored in the Production environment now:")
        for variable in sorted(stored, key=lambda variable: variable["key"]):  # writes run in parallel: any order
            value = "(secured: never readable)" if variable["secured"] else variable["value"]
            print(f"  {variable['key']} = {value}")
    print("\n" + try_it_text())
    return 0 if all(result.ok for result in results) else 1
