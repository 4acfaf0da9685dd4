"""API keys: where they come from, 401 vs 403, scopes, public actions, the
service without keys, the keys file and its reload, and secrets that never show."""

import doctest
import gc
import json
import logging
import os

import pytest
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from fugue_ppl.checks import Secret
from fugue_ppl.config import Config, load_config
from fugue_ppl.errors import ConfigError, InvalidArgument
from fugue_ppl.service import _auth_config as auth_config
from fugue_ppl.service import auth as A
from fugue_ppl.service._auth_config import AuthConfig
from fugue_ppl.service.auth import Authenticator, Principal, parse_key_entry

CI = "ci-7Kq2mZr9Vw4xYb1T"            # the keys of the tests (16+ characters)
ADMIN = "adm-Hs8dLq3Rt6Pz0Wn5"
BARE = "bare-Xc4vBn7Mk2Lj9Hg1"
FILE1 = "file-Qa2Ws3Ed4Rf5Tg6Y"
FILE2 = "file-Zx9Cv8Bn7Mm6Lk5J"
ALL_KEYS = (CI, ADMIN, BARE, FILE1, FILE2)
CHALLENGE = 'Bearer realm="fugue-ppl"'
INVALID = 'Bearer realm="fugue-ppl", error="invalid_token"'
SCOPE = 'Bearer realm="fugue-ppl", error="insufficient_scope"'


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def config(env=None, **sections):
    base = {"FUGUE_SECRETS__API_KEYS": f"ci:{CI},admin:{ADMIN},{BARE}"}
    base.update(env or {})
    cfg = load_config(env=base)
    return cfg.replace(**sections) if sections else cfg


def scoped(**auth):
    auth.setdefault("scopes", {"ci": {"models": ["sensor"], "actions": ["infer", "read"]},
                               "admin": {"models": ["*"], "actions": ["admin", "read"]}})
    return Authenticator.from_config(config(auth=AuthConfig(**auth)))


def refused(auth, headers, action, model=None, **kw):
    with pytest.raises(HTTPException) as info:
        auth.authenticate(headers, action, model, **kw)
    return info.value


def test_docstring_examples_run():
    for module in (A, auth_config):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted >= 2


# ---------------------------------------------------------------- the keys and their ids

def test_key_entries_name_their_ids_or_get_their_position():
    assert parse_key_entry(f"ci:{CI}", 1) == ("ci", Secret(CI))
    assert parse_key_entry(Secret(BARE), 3) == ("key-3", Secret(BARE))
    # not an id before the colon: a bare key with a colon in it
    assert parse_key_entry("a b:c", 2) == ("key-2", Secret("a b:c"))
    assert parse_key_entry("ci:", 4) == ("key-4", Secret("ci:"))
    auth = scoped()
    assert auth.key_ids == ("admin", "ci", "key-3")


def test_a_valid_key_authenticates_through_either_header():
    auth = scoped()
    p = auth.authenticate(bearer(CI), "infer", "sensor")
    assert p == Principal("ci", frozenset({"infer", "read"}), frozenset({"sensor"}))
    assert not p.anonymous
    assert auth.authenticate({"X-API-Key": CI}, "infer", "sensor").key_id == "ci"
    assert auth.authenticate({"authorization": f"bearer   {CI} "}, "infer", "sensor").key_id \
        == "ci"
    assert auth.authenticate({"Authorization": f"Bearer {CI}", "X-API-Key": CI}, "read",
                             "sensor").key_id == "ci"
    raw = Headers(raw=[(b"authorization", f"Bearer {ADMIN}".encode())])
    assert auth.authenticate(raw, "admin", None).key_id == "admin"


def test_a_missing_key_is_401_with_the_bearer_challenge():
    auth = scoped()
    for action, model in (("infer", "sensor"), ("read", "sensor"), ("admin", None)):
        e = refused(auth, {}, action, model)
        assert e.status_code == 401
        assert e.headers == {"WWW-Authenticate": CHALLENGE}
        assert e.detail == "an API key is required: send it as 'Authorization: Bearer <key>'"


@pytest.mark.parametrize("headers, detail, challenge", [
    (bearer("nope-nope-nope-nope"), "the API key is not valid", INVALID),
    ({"X-API-Key": "nope-nope-nope-nope"}, "the API key is not valid", INVALID),
    (bearer(CI[:-1]), "the API key is not valid", INVALID),
    (bearer(CI + "x"), "the API key is not valid", INVALID),
    (bearer("x" * 5000), "the API key is not valid", INVALID),
    ({"Authorization": f"Basic {CI}"},
     "the Authorization header must use the Bearer scheme: 'Bearer <key>'", CHALLENGE),
    ({"Authorization": ""},
     "the Authorization header must use the Bearer scheme: 'Bearer <key>'", CHALLENGE),
    ({"Authorization": "Bearer "}, "the Authorization header holds no key", INVALID),
    ({"X-API-Key": "  "}, "the X-API-Key header is empty", INVALID),
    ({"Authorization": f"Bearer {CI}", "X-API-Key": ADMIN},
     "Authorization and X-API-Key carry different keys", INVALID),
])
def test_a_wrong_or_malformed_key_is_401_and_never_echoed(headers, detail, challenge):
    e = refused(scoped(), headers, "infer", "sensor")
    assert (e.status_code, e.detail, e.headers) == (401, detail, {"WWW-Authenticate": challenge})
    assert not any(k in e.detail for k in ALL_KEYS)


def test_a_key_outside_its_scope_is_403():
    auth = scoped()
    assert auth.authenticate(bearer(CI), "read", "sensor").key_id == "ci"
    cases = [(CI, "infer", "other", "the API key's scope does not include 'infer' on model "
                                    "'other'"),
             (CI, "admin", None, "the API key's scope does not include 'admin'"),
             (CI, "admin", "sensor", "the API key's scope does not include 'admin' on model "
                                     "'sensor'"),
             (ADMIN, "infer", "sensor", "the API key's scope does not include 'infer' on model "
                                        "'sensor'")]
    for key, action, model, detail in cases:
        e = refused(auth, bearer(key), action, model)
        assert (e.status_code, e.detail) == (403, detail)
        assert e.headers == {"WWW-Authenticate": SCOPE}
    # a model name from the URL is shown escaped and clipped
    e = refused(auth, bearer(CI), "infer", "x\n" + "y" * 100)
    assert "\n" not in e.detail and len(e.detail) < 120


def test_a_key_without_a_scope_gets_the_default_one():
    auth = scoped()
    p = auth.authenticate(bearer(BARE), "infer", "any-model")
    assert p == Principal("key-3", frozenset({"infer", "read", "health", "metrics"}), None)
    assert refused(auth, bearer(BARE), "admin", None).status_code == 403
    narrow = scoped(default_models=["sensor"], default_actions=["read"])
    assert narrow.authenticate(bearer(BARE), "read", "sensor").key_id == "key-3"
    assert refused(narrow, bearer(BARE), "read", "other").status_code == 403
    assert refused(narrow, bearer(BARE), "infer", "sensor").status_code == 403


def test_health_and_metrics_are_public_by_default_and_configurably_not():
    auth = scoped()
    for action in ("health", "metrics"):
        p = auth.authenticate({}, action, None)
        assert p.anonymous and p.key_id is None and p.actions == {"health", "metrics"}
        # a key outside its scope may still use a public action, as itself
        assert auth.authenticate(bearer(ADMIN), action, None).key_id == "admin"
        # but a key, if given, must be valid
        assert refused(auth, bearer("wrong-wrong-wrong-1"), action).status_code == 401
    closed = scoped(public_actions=[])
    assert refused(closed, {}, "health").status_code == 401
    assert closed.authenticate(bearer(BARE), "metrics", None).key_id == "key-3"
    e = refused(closed, bearer(ADMIN), "metrics")       # (admin's scope: admin, read)
    assert e.status_code == 403
    open_read = scoped(public_actions=["health", "read"])
    assert open_read.authenticate({}, "read", "sensor").anonymous
    assert refused(open_read, {}, "metrics").status_code == 401


def test_an_unknown_action_is_a_programming_error():
    with pytest.raises(InvalidArgument, match="action must be one of 'infer', 'read', 'admin', "
                                              "'health', 'metrics', got 'delete'"):
        scoped().authenticate({}, "delete", None)


# ---------------------------------------------------------------- without any key

def test_without_keys_production_serves_only_local_clients():
    auth = Authenticator.from_config(load_config(env={}))
    assert auth.keyless
    for host in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        p = auth.authenticate({}, "admin", None, client_host=host)
        assert p.anonymous and p.allows("admin") and p.allows("infer", "anything")
    for host in ("10.0.0.5", "203.0.113.9", "::ffff:10.0.0.1", "localhost", None):
        e = refused(auth, {}, "infer", "sensor", client_host=host)
        assert (e.status_code, e.headers) == (401, {"WWW-Authenticate": CHALLENGE})
        assert auth.authenticate({}, "health", None, client_host=host).anonymous
    # a request relayed by a local proxy is not local
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        e = refused(auth, {header: "203.0.113.9"}, "infer", "sensor", client_host="127.0.0.1")
        assert e.status_code == 401
    # a credential is ignored: there is nothing to check it against
    assert auth.authenticate(bearer(CI), "infer", "m", client_host="127.0.0.1").anonymous


def test_without_keys_development_is_open_and_refuse_refuses_to_start(caplog):
    with caplog.at_level(logging.WARNING, "fugue_ppl.service.auth"):
        auth = Authenticator.from_config(load_config(env={}, environment="development"))
    assert "no API key is configured: every client may do everything" in caplog.text
    assert auth.authenticate({}, "admin", None, client_host="203.0.113.9").allows("admin")
    with pytest.raises(ConfigError) as info:
        Authenticator.from_config(load_config(env={"FUGUE_AUTH__ANONYMOUS": "refuse"}))
    assert str(info.value) == ("no API key is configured (secrets.api_keys, auth.file) and "
                               "auth.anonymous is 'refuse'")
    assert info.value.key == "auth.anonymous"


# ---------------------------------------------------------------- the keys file

def write_keys(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("name, text", [
    ("keys.json", json.dumps({"svc": FILE1, "batch": FILE2 + "\n"})),
    ("keys.toml", f'svc = "{FILE1}"\nbatch = "  {FILE2}"\n'),
])
def test_a_keys_file_json_or_toml(tmp_path, name, text):
    path = write_keys(tmp_path, name, text)
    auth = Authenticator.from_config(config(env={
        "FUGUE_AUTH__FILE": path,
        "FUGUE_AUTH__SCOPES__SVC": '{"models": ["sensor"], "actions": ["infer"]}'}))
    assert auth.key_ids == ("admin", "batch", "ci", "key-3", "svc")
    assert auth.authenticate(bearer(FILE1), "infer", "sensor").key_id == "svc"
    assert refused(auth, bearer(FILE1), "infer", "other").status_code == 403
    assert auth.authenticate(bearer(FILE2), "infer", "other").key_id == "batch"


def mounted_secret(tmp_path, keys, generation=1):
    """A directory laid out as the kubelet mounts a Secret: the files are links into a
    timestamped directory, switched atomically through ``..data``."""
    root = tmp_path / "secret"
    root.mkdir(exist_ok=True)
    data = root / f"..gen_{generation}"
    data.mkdir()
    for key_id, key in keys.items():
        (data / key_id).write_text(key + "\n", encoding="utf-8")
    tmp = root / "..data_tmp"
    tmp.symlink_to(data.name)
    os.replace(tmp, root / "..data")
    for key_id in keys:
        link = root / key_id
        if not link.is_symlink():
            link.symlink_to(f"..data/{key_id}")
    for old in root.iterdir():
        if old.is_symlink() and not old.name.startswith(".") and old.name not in keys:
            old.unlink()
    return str(root)


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_a_mounted_secret_directory_is_read_and_reloaded_when_it_changes(tmp_path, caplog):
    path = mounted_secret(tmp_path, {"svc": FILE1})
    clock = Clock()
    auth = Authenticator({"ci": CI}, settings=AuthConfig(file=path, reload_seconds=30),
                         clock=clock)
    assert auth.key_ids == ("ci", "svc")
    mounted_secret(tmp_path, {"svc2": FILE2}, generation=2)
    clock.t += 29
    assert refused(auth, bearer(FILE2), "infer", "m").status_code == 401     # not yet checked
    assert auth.authenticate(bearer(FILE1), "infer", "m").key_id == "svc"
    clock.t += 1
    assert auth.authenticate(bearer(FILE2), "infer", "m").key_id == "svc2"
    assert refused(auth, bearer(FILE1), "infer", "m").status_code == 401
    assert auth.key_ids == ("ci", "svc2")
    # a file that no longer reads leaves the keys as they were, with a warning
    (tmp_path / "secret" / "..gen_3").mkdir()
    (tmp_path / "secret" / "..gen_3" / "svc2").write_text("has space " + FILE2)
    os.symlink("..gen_3", tmp_path / "secret" / "..data_tmp")
    os.replace(tmp_path / "secret" / "..data_tmp", tmp_path / "secret" / "..data")
    with caplog.at_level(logging.WARNING, "fugue_ppl.service.auth"):
        assert auth.reload() is False
    assert "the keys file was not reloaded: auth.file: the key of id svc2 must be" in caplog.text
    assert FILE2 not in caplog.text
    assert auth.authenticate(bearer(FILE2), "infer", "m").key_id == "svc2"
    assert auth.reload() is False               # (unchanged since: not read again)


def test_reload_seconds_zero_reads_the_file_once(tmp_path):
    path = write_keys(tmp_path, "k.json", json.dumps({"svc": FILE1}))
    clock = Clock()
    auth = Authenticator(settings=AuthConfig(file=path, reload_seconds=0), clock=clock)
    write_keys(tmp_path, "k.json", json.dumps({"svc": FILE2}))
    clock.t += 10**6
    assert auth.authenticate(bearer(FILE1), "infer", "m").key_id == "svc"
    assert auth.reload() is True        # (an explicit reload still reads it)
    assert auth.authenticate(bearer(FILE2), "infer", "m").key_id == "svc"


def test_an_empty_keys_file_at_start_is_keyless_until_keys_arrive(tmp_path):
    path = write_keys(tmp_path, "k.json", "{}")
    auth = Authenticator(settings=AuthConfig(file=path, anonymous="open"))
    assert auth.keyless
    assert auth.authenticate({}, "infer", "m").anonymous
    write_keys(tmp_path, "k.json", json.dumps({"svc": FILE1}))
    os.utime(path, ns=(1, 1))
    assert auth.reload() is True and not auth.keyless
    assert refused(auth, {}, "infer", "m").status_code == 401
    # and never back: keys removed later leave no key valid, not an open service
    write_keys(tmp_path, "k.json", "{}")
    os.utime(path, ns=(2, 2))
    assert auth.reload() is True and not auth.keyless
    assert refused(auth, {}, "infer", "m").status_code == 401


# ---------------------------------------------------------------- bad configurations

@pytest.mark.parametrize("text, message", [
    ("{not json " + FILE1, "auth.file: {path} is not valid JSON (line 1, column 2)"),
    (f"= {FILE1}", "auth.file: {path} is neither a JSON object nor valid TOML"),
    (json.dumps([1, 2]), "auth.file: {path} is neither a JSON object nor valid TOML"),
    (json.dumps([FILE1]), "auth.file: entry 1: must map a key id to a key (a string), got a "
                          "table"),
    (f"[{FILE1}]\n", "auth.file: entry 1: must map a key id to a key (a string), got a table"),
    (json.dumps({FILE1: "svc", "x": 1.5}),
     "auth.file: entry 2: must map a key id to a key (a string), got float"),
    (json.dumps({"svc": FILE2, FILE1 + "!": "svc"}),
     "auth.file: entry 2: not a valid key id (letters, digits, '.', '_', '-'; at most 64 "
     "characters)"),
    (json.dumps({"svc": FILE1 + " x"}),
     "auth.file: the key of id svc must be 1 to 1024 printable characters without spaces"),
    (json.dumps({"svc": ""}),
     "auth.file: the key of id svc must be 1 to 1024 printable characters without spaces"),
    (json.dumps({"a": FILE1, "b": FILE1}), "the keys of ids a and b are the same key"),
    (json.dumps({"ci": FILE1}), "auth.file: the key id ci is also in secrets.api_keys"),
    (json.dumps({"svc": CI}), "the keys of ids ci and svc are the same key"),
])
def test_a_bad_keys_file_is_a_config_error_that_shows_no_key(tmp_path, text, message):
    path = write_keys(tmp_path, "keys.txt", text)
    with pytest.raises(ConfigError) as info:
        Authenticator.from_config(config(env={"FUGUE_AUTH__FILE": path}))
    assert str(info.value) == message.format(path=path)
    assert not any(k in str(info.value) for k in ALL_KEYS)
    assert info.value.__cause__ is None and info.value.__context__ is None or \
        not any(k in repr(info.value.__context__) for k in ALL_KEYS)


def test_an_unreadable_keys_file_is_a_config_error(tmp_path):
    missing = str(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match="^auth.file: .*nope.json no such file$"):
        Authenticator(settings=AuthConfig(file=missing))
    big = write_keys(tmp_path, "big.json", " " * (A.MAX_FILE_BYTES + 1))
    with pytest.raises(ConfigError, match="is larger than 4194304 bytes$"):
        Authenticator(settings=AuthConfig(file=big))
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"svc": "\xff"}')
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(byte 9\)$"):
        Authenticator(settings=AuthConfig(file=str(latin)))


def test_a_scope_naming_no_key_is_refused():
    # (a misspelt id would leave its key with the default, wider scope)
    with pytest.raises(ConfigError) as info:
        scoped(scopes={"cl": {"models": ["sensor"], "actions": ["infer"]}})
    assert str(info.value) == ("auth.scopes.cl: no API key has the id cl (configured ids: "
                               "admin, ci, key-3)")


def test_key_entries_that_clash_are_refused():
    with pytest.raises(ConfigError, match="^secrets.api_keys: the key id ci is used twice$"):
        Authenticator.from_config(load_config(env={
            "FUGUE_SECRETS__API_KEYS": f"ci:{CI},ci:{ADMIN}"}))
    with pytest.raises(ConfigError, match="^the keys of ids a and b are the same key$"):
        Authenticator({"a": CI, "b": CI})
    with pytest.raises(ConfigError, match="not a valid key id"):
        Authenticator({"a b": CI})
    with pytest.raises(TypeError, match="the key of id a must be a str or a Secret, got int"):
        Authenticator({"a": 5})
    with pytest.raises(TypeError, match="settings must be an AuthConfig, got dict"):
        Authenticator(settings={})


@pytest.mark.parametrize("data, message", [
    ({"public_actions": ["admin"]},
     "auth.public_actions = ['admin'] (mapping): must hold actions among 'health', 'metrics', "
     "'read', 'infer'"),
    ({"default_actions": ["infer", "fly"]},
     "auth.default_actions = ['infer', 'fly'] (mapping): must hold actions among 'infer', "
     "'read', 'admin', 'health', 'metrics'"),
    ({"default_models": ["a b"]},
     "auth.default_models = ['a b'] (mapping): must hold model names (printable, without "
     "spaces or '/', at most 200 characters) or '*'"),
    ({"scopes": {"ci": {"models": ["*"]}}},
     "auth.scopes.ci = {'models': ['*']} (mapping): must give both 'models' and 'actions'"),
    ({"scopes": {"ci": {"models": ["*"], "actions": ["infer"], "rate": 5}}},
     "auth.scopes.ci = 'rate' (mapping): may hold only 'models' and 'actions'"),
    ({"scopes": {"ci": {"models": ["*"], "actions": ["root"]}}},
     "auth.scopes.ci.actions = ['root'] (mapping): must hold actions among 'infer', 'read', "
     "'admin', 'health', 'metrics'"),
    ({"scopes": {"c i": {"models": ["*"], "actions": ["infer"]}}},
     "auth.scopes = 'c i' (mapping): must name key ids (letters, digits, '.', '_', '-'; at "
     "most 64 characters)"),
    ({"anonymous": "everyone"},
     "auth.anonymous = 'everyone' (mapping): must be one of 'local', 'open', 'refuse'"),
    ({"reload_seconds": -1},
     "auth.reload_seconds = -1 (mapping): must be a finite number of seconds >= 0 and <= "
     "86400"),
])
def test_bad_auth_settings_name_the_key(data, message):
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"auth": data})
    assert str(info.value) == message


# ---------------------------------------------------------------- secrets never show

def _strings_reachable(obj, depth=6):
    """Every str and bytes reachable from ``obj`` through the garbage collector's referents."""
    seen, found, frontier = set(), [], [obj]
    for _ in range(depth):
        nxt = []
        for o in frontier:
            if id(o) in seen or isinstance(o, type):
                continue
            seen.add(id(o))
            if isinstance(o, (str, bytes)):
                found.append(o)
            else:
                nxt.extend(gc.get_referents(o))
        frontier = nxt
    return found


def test_the_authenticator_keeps_digests_not_keys(tmp_path):
    path = write_keys(tmp_path, "k.json", json.dumps({"svc": FILE1}))
    auth = Authenticator({"ci": CI}, settings=AuthConfig(file=path))
    texts = _strings_reachable(auth)
    assert len(texts) > 10
    for key in (CI, FILE1):
        assert not any(key in t if isinstance(t, str) else key.encode() in t for t in texts)
    assert all(len(d) == 32 for d in auth._table)       # keyed BLAKE2b digests
    assert repr(auth) == ("Authenticator(keys=['ci', 'svc'], public=['health', 'metrics'], "
                          "anonymous='local')")


def test_secrets_never_show_in_the_config_its_renderings_or_logs(tmp_path, caplog):
    audit_key = "audit-Pp0Oo9Ii8Uu7Yy6T"
    short = "tiny-key"
    with caplog.at_level(logging.DEBUG, "fugue_ppl"):
        cfg = load_config(env={"FUGUE_SECRETS__API_KEYS": f"ci:{CI},{short}",
                               "FUGUE_SECRETS__AUDIT_KEY": audit_key})
        auth = Authenticator.from_config(cfg)
        with pytest.raises(HTTPException) as info:
            auth.authenticate(bearer(CI + "0"), "infer", "m")
    assert "the API key of id key-2 is shorter than 16 characters" in caplog.text
    renderings = [repr(cfg), str(cfg), json.dumps(cfg.dump()), cfg.to_toml(), repr(auth),
                  repr(cfg.secrets), caplog.text, str(info.value.detail), repr(info.value)]
    for text in renderings:
        for secret in (CI, short, audit_key):
            assert secret not in text
    assert cfg.dump()["secrets"] == {"api_keys": ["***", "***"], "database_url": None,
                                     "audit_key": "***"}
    assert "# [secrets] omitted" in cfg.to_toml()
    assert load_config(env={"FUGUE_SECRETS__AUDIT_KEY": ""}).secrets.audit_key is None
    with pytest.raises(InvalidArgument) as bad:
        cfg.secrets.replace(audit_key="")
    assert audit_key not in str(bad.value) and str(bad.value) == (
        "SecretsConfig: audit_key must not be empty, got ***")


def test_the_service_sections_survive_to_toml_and_back(tmp_path):
    cfg = load_config(env={
        "FUGUE_AUTH__SCOPES__CI": '{"models": ["sensor"], "actions": ["infer"]}',
        "FUGUE_AUTH__PUBLIC_ACTIONS": "health", "FUGUE_AUTH__FILE": "/run/secrets/fugue",
        "FUGUE_RATE_LIMIT__OVERRIDES__CI": '{"rate": 5, "burst": 10}',
        "FUGUE_RATE_LIMIT__TRUSTED_PROXIES": "10.0.0.0/8", "FUGUE_AUDIT__PATH": "-",
        "FUGUE_SECRETS__AUDIT_KEY": "audit-Pp0Oo9Ii8Uu7Yy6T"})
    path = tmp_path / "config.toml"
    path.write_text(cfg.to_toml(), encoding="utf-8")
    back = load_config(path, env={})
    assert (back.auth, back.rate_limit, back.audit) == (cfg.auth, cfg.rate_limit, cfg.audit)
    assert back.secrets.audit_key is None           # (secrets are never written)
