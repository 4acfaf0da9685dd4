"""deploy/Dockerfile: hadolint without a warning (its one ignore justified in place),
and its shape read with dockerfile-parse: a builder stage that builds the wheel, a
slim runtime that installs it with the service's extras and runs `fugue-ppl serve`
as a non-root user on the service's port; the build context (.dockerignore) holds
what the stages copy, and nothing built."""

import fnmatch
import json
import re


def _ins(stage, instruction):
    return [v for i, v in stage if i == instruction]


def test_hadolint_finds_nothing(hadolint, run_tool, deploy_dir):
    result = run_tool([hadolint, "--no-color", str(deploy_dir / "Dockerfile")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_every_hadolint_ignore_is_justified(deploy_dir):
    lines = (deploy_dir / "Dockerfile").read_text(encoding="utf-8").splitlines()
    ignores = [(n, line) for n, line in enumerate(lines) if "hadolint ignore=" in line]
    assert [re.search(r"ignore=(\S+)", line).group(1) for _, line in ignores] == ["DL3008"]
    for n, _ in ignores:
        # the comment just above names the rule and says why
        assert "DL3008" in lines[n - 3] + lines[n - 2] + lines[n - 1]


def test_hadolint_would_flag_an_unpinned_apt_install_without_the_ignore(hadolint, run_tool,
                                                                        deploy_dir, tmp_path):
    # The control: the check above is not vacuous.
    text = (deploy_dir / "Dockerfile").read_text(encoding="utf-8")
    stripped = tmp_path / "Dockerfile"
    stripped.write_text(text.replace("# hadolint ignore=DL3008\n", ""), encoding="utf-8")
    result = run_tool([hadolint, "--no-color", str(stripped)])
    assert result.returncode != 0 and "DL3008" in result.stdout


def test_two_stages_from_one_slim_python_image(dockerfile):
    parser, stages = dockerfile["parser"], dockerfile["stages"]
    assert parser.is_multistage
    assert list(stages) == ["builder", "runtime"]
    assert len(set(parser.parent_images)) == 1
    (image,) = set(parser.parent_images)
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", image)


def test_the_builder_builds_the_wheel_from_the_package_sources(dockerfile):
    builder = dockerfile["stages"]["builder"]
    copied = [v.split()[:-1] for v in _ins(builder, "COPY")]
    assert [p for paths in copied for p in paths] == [
        "pyproject.toml", "CMakeLists.txt", "README.md", "csrc/", "python/"]
    runs = _ins(builder, "RUN")
    assert any("g++" in r for r in runs)
    assert runs[-1] == "pip wheel --no-cache-dir --no-deps --wheel-dir /dist ."


def test_the_runtime_installs_the_wheel_with_the_service_extras(dockerfile):
    runtime = dockerfile["stages"]["runtime"]
    (install,) = [r for r in _ins(runtime, "RUN") if "pip install" in r]
    assert "from=builder" in install and "source=/dist" in install
    assert re.search(r"fugue_ppl-\*\.whl'\)\[serve,postgres,deploy\]", install)
    assert "--no-cache-dir" in install
    assert not [r for r in _ins(runtime, "RUN") if "apt-get" in r]    # no compiler at run time


def test_the_runtime_runs_as_a_non_root_user(dockerfile):
    runtime = dockerfile["stages"]["runtime"]
    users = _ins(runtime, "USER")
    assert users == ["10001:10001"]
    uid = users[0].split(":")[0]
    (adduser,) = [r for r in _ins(runtime, "RUN") if "useradd" in r]
    assert f"--uid {uid}" in adduser and "--gid 10001" in adduser
    # nothing after USER runs as root again, and the command comes after it
    order = [i for i, _ in runtime]
    assert order.index("USER") < order.index("ENTRYPOINT")
    assert "RUN" not in order[order.index("USER"):]


def test_the_command_serves_on_the_exposed_port(dockerfile, service_defaults):
    parser, runtime = dockerfile["parser"], dockerfile["stages"]["runtime"]
    port = service_defaults["port"]
    assert _ins(runtime, "EXPOSE") == [str(port)]
    (entrypoint,) = _ins(runtime, "ENTRYPOINT")
    command = json.loads(entrypoint) + json.loads(parser.cmd)
    assert command == ["fugue-ppl", "serve", "--host", "0.0.0.0", "--port", str(port)]
    (check,) = _ins(runtime, "HEALTHCHECK")
    assert f"http://127.0.0.1:{port}{service_defaults['liveness']}" in check


def test_the_runtime_writes_no_bytecode_and_does_not_buffer_logs(dockerfile):
    (env,) = _ins(dockerfile["stages"]["runtime"], "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env


def _ignored(patterns, path):
    """Whether the Docker build context leaves ``path`` out (last matching pattern wins)."""
    out = False
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat[1:] if neg else pat
        pat = pat.rstrip("/")
        hit = any(fnmatch.fnmatch(part, pat) for part in [path] + [
            "/".join(path.split("/")[:k]) for k in range(1, path.count("/") + 1)])
        if pat.startswith("**/"):
            hit = hit or fnmatch.fnmatch(path.rsplit("/", 1)[-1], pat[3:])
        if hit:
            out = not neg
    return out


def test_the_build_context_holds_what_the_stages_copy_and_nothing_built(deploy_dir, dockerfile):
    lines = (deploy_dir.parent / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [x.strip() for x in lines if x.strip() and not x.startswith("#")]
    copied = [p.rstrip("/") for v in _ins(dockerfile["stages"]["builder"], "COPY")
              for p in v.split()[:-1]]
    for path in copied:
        assert not _ignored(patterns, path), path
    for path in ("python/fugue_ppl/__init__.py", "csrc/core/src/trace.cpp"):
        assert not _ignored(patterns, path), path
    for path in ("build/cp311-editable/x.o", "python/fugue_ppl/core/_runtime.cpp",
                 "python/fugue_ppl/libfugue_core.so", "python/fugue_ppl/__pycache__/cli.pyc",
                 ".venv/bin/python", "fugue-registry.sqlite3", "tests/conftest.py", ".git/HEAD"):
        assert _ignored(patterns, path), path
