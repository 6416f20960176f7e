#!/usr/bin/python3
"""check_docker.py: `make check-docker`, the chald image under docker.

Debian's docker.io, with a dockerd of the test's own (its data under
build/docker, its socket and state under /run/chald-check-docker; no
bridge, no iptables rules: the containers use the host's network, on a
free 127.0.0.1 port). The images are check_image.py's (built with podman,
then `docker load`ed). Runs the examples/jail-pwn challenge with the
privileges of deploy/image/docker-privileges, which docs/deploy.md must
quote, and checks that:
- the pwntools exploit gets the flag;
- `docker stop` ends it within chald's grace, exit status 0;
- with docker's default seccomp profile instead (it refuses pivot_root),
  and with podman's comma-separated --cap-add, chald or docker refuse with
  one line that says what is wrong.
Every wait is bounded. Ends with "N passed, N failed".
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_image as ci  # noqa: E402  (podman, the images, the helpers)

RUN = "/run/chald-check-docker"
SOCK = f"unix://{RUN}/docker.sock"
DATA = os.path.join(ci.ROOT, "build", "docker")
NAME = "chald-check-docker"
DENV = dict(os.environ, DOCKER_HOST=SOCK)


def docker(*args, timeout=120, check_rc=True, **kw):
    r = subprocess.run(["docker", *args], env=DENV, capture_output=True,
                       text=True, timeout=timeout, **kw)
    if check_rc and r.returncode != 0:
        sys.exit(f"check_docker: docker {' '.join(args)}: exit "
                 f"{r.returncode}\n{r.stdout}{r.stderr}")
    return r


def privileges():
    path = os.path.join(ci.ROOT, "deploy", "image", "docker-privileges")
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def dockerd_start():
    os.makedirs(RUN, exist_ok=True)
    os.makedirs(DATA, exist_ok=True)
    log = open(os.path.join(DATA, "dockerd.log"), "ab")
    p = subprocess.Popen(
        ["dockerd", "--data-root", os.path.join(DATA, "data"),
         "--exec-root", os.path.join(RUN, "exec"),
         "--pidfile", os.path.join(RUN, "dockerd.pid"), "-H", SOCK,
         "--bridge=none", "--iptables=false", "--ip6tables=false",
         "--ip-masq=false", "--default-ulimit", "nofile=4096:4096",
         "--default-ulimit", "nproc=4096:4096"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        start_new_session=True)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if docker("version", check_rc=False, timeout=10).returncode == 0:
            return p
        if p.poll() is not None:
            sys.exit(f"check_docker: dockerd exited {p.returncode}: see "
                     f"{DATA}/dockerd.log")
        time.sleep(0.5)
    p.terminate()
    sys.exit("check_docker: dockerd did not answer within 60 s")


def dockerd_stop(p):
    p.terminate()
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=10)


def images():
    """chald and the challenge, as check_image.py builds them."""
    ci.run(["sh", os.path.join(ci.ROOT, "deploy", "image", "build.sh"),
            os.path.join(ci.ROOT, "build", "chald"), ci.IMAGE], timeout=300)
    ci.debian_root()
    ci.run(["make", "-s", "-C", ci.EXAMPLE], timeout=60)
    ci.podman("build", "--pull=never", "--network=none", "-q", "-t",
              ci.CHAL, ci.EXAMPLE, timeout=600)
    save = subprocess.Popen(["podman", "save", "--format", "docker-archive",
                             f"localhost/{ci.CHAL}"], env=ci.ENV,
                            stdout=subprocess.PIPE)
    docker("load", stdin=save.stdout, timeout=300)
    save.wait(timeout=60)


def start(privs, port):
    docker("rm", "-f", NAME, check_rc=False)
    return docker("run", "-d", "--name", NAME, *privs, "--network", "host",
                  "-e", f"JAIL_PORT={port}", "-e", "JAIL_TIME=10",
                  f"localhost/{ci.CHAL}", check_rc=False)


def logs():
    r = docker("logs", NAME, check_rc=False)
    return r.stdout + r.stderr


def state():
    r = docker("inspect", "--format", "{{.State.Status}} "
               "{{.State.ExitCode}}", NAME, check_rc=False)
    w = r.stdout.split()
    return (w[0], int(w[1])) if len(w) == 2 else (None, None)


def wait_exit(limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        st, code = state()
        if st == "exited":
            return code
        time.sleep(0.2)
    return None


def wait_listening(limit=30):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if "listening service=app" in logs():
            return True
        if state()[0] == "exited":
            return False
        time.sleep(0.2)
    return False


def main():
    if shutil.which("dockerd") is None:
        sys.exit("check_docker: no dockerd (apt-get install docker.io)")
    privs = privileges()
    doc = open(os.path.join(ci.ROOT, "docs", "deploy.md")).read()
    ci.check(" ".join(privs) in doc,
             f"docs/deploy.md gives the privileges: {' '.join(privs)}")
    d = dockerd_start()
    port = ci.free_port()
    try:
        images()
        images_ok = docker("image", "inspect", f"localhost/{ci.CHAL}",
                           check_rc=False).returncode == 0
        ci.check(images_ok, "the challenge image is loaded into docker")
        r = start(privs, port)
        up = r.returncode == 0 and wait_listening()
        ci.check(up, f"chald starts with the documented privileges: "
                 f"{r.stderr.strip()}")
        if up:
            flag = open(os.path.join(ci.EXAMPLE,
                                     "flag.txt")).read().strip()
            r = ci.run([sys.executable, os.path.join(ci.EXAMPLE, "solve.py"),
                        "127.0.0.1", str(port)], timeout=60, check_rc=False)
            ci.check(flag in r.stdout, f"the exploit gets the flag: "
                     f"{r.stdout!r}")
            s = ci.connect(port)
            ci.recv_until(s, b"name? ")
            t0 = time.monotonic()
            docker("stop", "-t", "30", NAME, timeout=60)
            took = time.monotonic() - t0
            code = wait_exit(10)
            ci.check(took < 5.0 and code == 0, f"docker stop with a live "
                     f"session: {took:.2f} s (grace 5 s), exit {code}")
            s.close()
        else:
            print(logs())
        # docker's own seccomp profile: pivot_root is refused.
        r = start([p for p in privs if "seccomp=" not in p], port)
        code = wait_exit(20)
        lines = [l for l in logs().splitlines() if l.strip()]
        ci.check(code == 1 and len(lines) == 1 and "pivot_root" in lines[0]
                 and "seccomp=" in lines[0], f"with docker's default "
                 f"seccomp profile: exit {code}, {lines!r}")
        # podman's comma-separated --cap-add is not docker's.
        r = start(["--cap-drop=all", "--cap-add=SYS_ADMIN,NET_ADMIN"], port)
        ci.check(r.returncode != 0 and "unknown capability" in r.stderr,
                 f"docker refuses --cap-add=A,B: {r.stderr.strip()!r}")
    finally:
        docker("rm", "-f", NAME, check_rc=False)
        dockerd_stop(d)
    print(f"check-docker: {ci.passed} passed, {ci.failed} failed")
    return 1 if ci.failed else 0


if __name__ == "__main__":
    sys.exit(main())
