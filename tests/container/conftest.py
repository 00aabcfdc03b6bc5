"""Rig for the container tests: a private dockerd, a local base image, the built image.

Nothing is pulled from a registry: the base image is a debootstrapped Debian
bookworm tarball (made by ``.ci/container-engine.sh``, cached under
/var/cache/bbvars-container) that is ``docker import``-ed into a throw-away
daemon started here with its own data-root/exec-root/socket and no networking
of its own (``--bridge=none --iptables=false``); builds and containers use
``--network host`` so they can reach the emulator on 127.0.0.1.

Where no engine can be had the tests skip with the reason printed, never pass.

Environment knobs:
  BBVARS_BASE_TARBALL   base rootfs tarball (default: the script's cache path)
  BBVARS_DOCKER_HOST    use this existing daemon (e.g. unix:///var/run/docker.sock)
                        instead of starting one; the base is then BBVARS_BASE_IMAGE
                        or, if unset, the Dockerfile's default (needs a registry)
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / ".ci" / "container-engine.sh"
DEFAULT_TARBALL = Path(
    "/var/cache/bbvars-container/"
    "debootstrap-bookworm-minbase-python3_python3-venv_ca-certificates.tar"
)
BASE_TAG = "bbvars-test-base:bookworm"
IMAGE_TAG = "bbvars:container-test"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "container: builds the Docker image with a private dockerd and runs it "
        "(slow; deselect with -m 'not container')",
    )


def _skip(reason: str) -> None:
    print(f"\n[container] SKIP: {reason}", flush=True)
    pytest.skip(reason)


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _timed(label: str, timings: dict[str, float], fn, *a, **kw):
    start = time.monotonic()
    try:
        return fn(*a, **kw)
    finally:
        timings[label] = round(time.monotonic() - start, 1)
        print(f"[container] {label}: {timings[label]}s", flush=True)


@dataclasses.dataclass
class Rig:
    docker: str
    host: str
    image: str
    timings: dict[str, float]

    def docker_cmd(self, *args: str, **kw) -> subprocess.CompletedProcess:
        env = {**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "0"}
        env.update(kw.pop("env", None) or {})
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 300)
        return subprocess.run([self.docker, *args], env=env, check=False, **kw)

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        volumes: dict[str, str] | None = None,
        entrypoint: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess:
        """``docker run --rm -i --network host`` the image; env values are passed by name only."""
        cmd = ["run", "--rm", "-i", "--network", "host"]
        for name in env or {}:
            cmd += ["-e", name]  # value comes from the client's environment, not argv
        for host_dir, ctr_dir in (volumes or {}).items():
            cmd += ["-v", f"{host_dir}:{ctr_dir}"]
        if entrypoint is not None:
            cmd += ["--entrypoint", entrypoint]
        cmd += [self.image, *args]
        return self.docker_cmd(*cmd, env=env, input=stdin if stdin is not None else "", timeout=timeout)

    @property
    def size(self) -> int:
        out = self.docker_cmd("image", "inspect", "-f", "{{.Size}}", self.image)
        return int(out.stdout.strip())

    def config(self) -> dict:
        out = self.docker_cmd("image", "inspect", self.image)
        return json.loads(out.stdout)[0]["Config"]


class _Daemon:
    def __init__(self, dockerd: str, docker: str) -> None:
        # Short path: unix socket paths are limited to 108 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="bbv-dockerd-", dir="/tmp"))
        self.sock = self.dir / "docker.sock"
        self.host = f"unix://{self.sock}"
        self.log = self.dir / "dockerd.log"
        self.docker = docker
        (self.dir / "daemon.json").write_text("{}")
        cmd = [
            dockerd,
            "--config-file", str(self.dir / "daemon.json"),
            "--data-root", str(self.dir / "data"),
            "--exec-root", str(self.dir / "exec"),
            "--pidfile", str(self.dir / "docker.pid"),
            "-H", self.host,
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--userland-proxy=false",
        ]
        self._log_fh = open(self.log, "wb")
        self.proc = subprocess.Popen(
            cmd, stdout=self._log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> str | None:
        """None when ready, else why not."""
        deadline = time.monotonic() + timeout
        env = {**os.environ, "DOCKER_HOST": self.host}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"dockerd exited with {self.proc.returncode}:\n{_tail(self.log)}"
            if self.sock.exists():
                r = subprocess.run(
                    [self.docker, "version", "--format", "{{.Server.Version}}"],
                    env=env, capture_output=True, text=True, check=False, timeout=20,
                )
                if r.returncode == 0:
                    print(f"[container] dockerd {r.stdout.strip()} up at {self.host}", flush=True)
                    return None
            time.sleep(0.5)
        return f"dockerd not ready after {timeout}s:\n{_tail(self.log)}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log_fh.close()
        # dockerd unmounts on shutdown; anything left mounted under our dir is ours.
        try:
            mounts = Path("/proc/self/mounts").read_text().splitlines()
        except OSError:
            mounts = []
        ours = [m.split()[1] for m in mounts if len(m.split()) > 1 and m.split()[1].startswith(str(self.dir))]
        for mnt in sorted(ours, key=len, reverse=True):
            subprocess.run(["umount", "-l", mnt], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def _base_tarball(timings: dict[str, float]) -> Path | None:
    tarball = Path(os.environ.get("BBVARS_BASE_TARBALL", DEFAULT_TARBALL))
    if tarball.is_file() and tarball.stat().st_size:
        return tarball
    if shutil.which("debootstrap") and SCRIPT.is_file():
        print(f"[container] base tarball missing; running {SCRIPT} (a few minutes at most)", flush=True)
        r = _timed(
            "make base (container-engine.sh)", timings, subprocess.run,
            ["bash", str(SCRIPT)], env={**os.environ, "BBVARS_BASE_TARBALL": str(tarball)},
            capture_output=True, text=True, check=False, timeout=600, stdin=subprocess.DEVNULL,
        )
        print(r.stdout + r.stderr, flush=True)
    return tarball if tarball.is_file() and tarball.stat().st_size else None


HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
TRUSTING_BASE_TAG = "bbvars-test-base:bookworm-host-ca"


def _base_trusting_host_ca(rig: Rig, base_image: str, timings: dict[str, float]) -> str:
    """The base plus this machine's CA bundle, with pip told to use it: pip in a build here reaches PyPI only
    through the host's trust. The project's Dockerfile and build context stay exactly as a user has them."""
    if not HOST_CA.is_file():
        return base_image
    with tempfile.TemporaryDirectory(prefix="bbv-base-") as tmp:
        shutil.copy2(HOST_CA, Path(tmp) / "ca.crt")
        (Path(tmp) / "Dockerfile").write_text(
            f"FROM {base_image}\n"
            "COPY ca.crt /etc/ssl/certs/ca-certificates.crt\n"
            "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt\n"
        )
        r = _timed("docker build (base with host CA)", timings, rig.docker_cmd,
                   "build", "--network", "host", "-t", TRUSTING_BASE_TAG, tmp, timeout=300)
    if r.returncode != 0:
        pytest.fail(f"building the CA-trusting base failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return TRUSTING_BASE_TAG


@pytest.fixture(scope="module")
def rig():
    timings: dict[str, float] = {}
    docker = shutil.which("docker")
    if not docker:
        _skip("no docker client on PATH (run .ci/container-engine.sh)")

    existing = os.environ.get("BBVARS_DOCKER_HOST")
    daemon: _Daemon | None = None
    try:
        if existing:
            host = existing
            base_image = os.environ.get("BBVARS_BASE_IMAGE")
        else:
            dockerd = shutil.which("dockerd") or next(
                (p for p in ("/usr/sbin/dockerd", "/usr/bin/dockerd") if os.access(p, os.X_OK)), None
            )
            if not dockerd:
                _skip("no dockerd binary (run .ci/container-engine.sh as root to install docker.io)")
            if os.geteuid() != 0:
                _skip(f"not root (euid {os.geteuid()}): cannot start a private dockerd")
            tarball = _base_tarball(timings)
            if tarball is None:
                _skip("no debootstrap base tarball and it could not be built (see output above)")
            daemon = _Daemon(dockerd, docker)
            why = _timed("dockerd start", timings, daemon.wait_ready)
            if why:
                _skip(f"private dockerd did not come up: {why}")
            host = daemon.host
            base_image = BASE_TAG
            r = _timed(
                "docker import base", timings, subprocess.run,
                [docker, "import", str(tarball), BASE_TAG],
                env={**os.environ, "DOCKER_HOST": host}, capture_output=True, text=True,
                check=False, timeout=300,
            )
            if r.returncode != 0:
                _skip(f"docker import of {tarball} failed: {r.stderr[-1500:]}")

        rig = Rig(docker=docker, host=host, image=IMAGE_TAG, timings=timings)
        # README's own build: the repository as the context (.dockerignore decides what goes in), no wheelhouse.
        args = ["build", "--network", "host", "-t", IMAGE_TAG]
        if base_image:
            args += ["--build-arg", f"BASE_IMAGE={_base_trusting_host_ca(rig, base_image, timings)}"]
        r = _timed("docker build", timings, rig.docker_cmd, *args, str(REPO), timeout=900)
        if r.returncode != 0:
            pytest.fail(f"docker build failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
        size = rig.size
        print(f"[container] image {IMAGE_TAG} (base {base_image or 'Dockerfile default'}) "
              f"size: {size} bytes = {size / 1e6:.1f} MB", flush=True)
        hist = rig.docker_cmd("history", "--format", "{{.Size}}\t{{.CreatedBy}}", IMAGE_TAG)
        print("[container] layers (newest first):\n" + "\n".join(
            "    " + line[:110] for line in hist.stdout.splitlines()), flush=True)
        yield rig
        print(f"[container] timings: {json.dumps(timings)}", flush=True)
    finally:
        if daemon is not None:
            daemon.stop()
