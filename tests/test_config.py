"""Tests of fugue_ppl.config: layers, parsing, validation, errors and secret masking."""

import copy
import dataclasses
import doctest
import io
import json
import logging
import math
import pickle
import sys
import traceback

import pytest

import fugue_ppl as fp
from fugue_ppl import config as C
from fugue_ppl.config import (
    PROFILES,
    BreakerConfig,
    Config,
    ConfigProblem,
    EWMAConfig,
    ModelConfig,
    RuntimeConfig,
    Secret,
    SecretsConfig,
    load_config,
)
from fugue_ppl.errors import ConfigError, FugueError

DB_URL = "postgres://svc:Sup3r-S3cret-pw@db.internal:5432/fugue"
API_KEY = "sk-live-4f9a8b7c6d5e"
API_KEY2 = "sk-live-0a1b2c3d4e5f"


def write(tmp_path, text, name="config.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def error(**kwargs) -> ConfigError:
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as info:
        load_config(**kwargs)
    return info.value


def test_docstring_examples_run():
    result = doctest.testmod(C, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 15
    assert result.failed == 0


def test_config_error_attributes_and_pickling():
    e = ConfigError("m", key="a.b", layer="file x", value="1", suggestion="a.c")
    assert isinstance(e, FugueError) and isinstance(e, ValueError)
    e2 = pickle.loads(pickle.dumps(e))
    assert (str(e2), e2.key, e2.layer, e2.value, e2.suggestion, e2.problems) == (
        "m", "a.b", "file x", "1", "a.c", ())
    assert ConfigError("plain").key is None


# ---------------------------------------------------------------- defaults and profiles


class TestDefaults:
    def test_config_defaults_are_the_production_profile(self):
        cfg = Config()
        assert cfg.environment == "production" and cfg.log_level == "WARNING"
        assert cfg.log_level_number == logging.WARNING
        assert cfg.runtime == RuntimeConfig(max_inference_time=1.0, pool_max_size=64,
                                            pool_min_size=0, error_threshold=0.05)
        assert cfg.metrics.enabled is True and cfg.metrics.window_seconds == 60.0
        assert load_config(env={}) == cfg

    def test_breaker_and_monitor_defaults(self):
        b = Config().breaker
        assert (b.recovery_threshold, b.degraded_threshold, b.failure_threshold) == (0.02, 0.05,
                                                                                      0.5)
        assert (b.window_size, b.minimum_calls, b.half_open_permits) == (100, 20, 5)
        assert (b.open_duration, b.backoff_factor, b.max_open_duration) == (30.0, 1.0, None)
        assert b.slow_call_duration is None
        m = Config().monitor
        assert (m.ewma.lam, m.ewma.L, m.ewma.warmup) == (0.2, 2.962, 30)
        assert (m.cusum.k, m.cusum.h, m.cusum.warmup) == (0.5, 5.0, 30)
        assert Config().model == ModelConfig(name="default", version="1", params={})
        assert Config().secrets == SecretsConfig(api_keys=(), database_url=None)

    @pytest.mark.parametrize("environment,level,timeout,metrics", [
        ("development", "DEBUG", 30.0, False),
        ("staging", "INFO", 5.0, True),
        ("production", "WARNING", 1.0, True),
    ])
    def test_profiles(self, environment, level, timeout, metrics):
        cfg = load_config(env={}, environment=environment)
        assert cfg.environment == environment
        assert (cfg.log_level, cfg.runtime.max_inference_time, cfg.metrics.enabled) == (
            level, timeout, metrics)
        assert Config.from_dict({"environment": environment}) == cfg

    def test_monitor_config_feeds_the_monitors(self):
        from fugue_ppl.monitoring import CUSUM, EWMA
        cfg = Config()
        e = EWMA(**dataclasses.asdict(cfg.monitor.ewma))
        c = CUSUM(**dataclasses.asdict(cfg.monitor.cusum))
        assert (e.lam, e.L, e.warmup, c.k, c.h, c.warmup) == (0.2, 2.962, 30, 0.5, 5.0, 30)


# ---------------------------------------------------------------- layers


class TestLayers:
    def test_each_layer_overrides_the_previous(self, tmp_path):
        key = ("runtime", "max_inference_time")
        def get(cfg):
            return cfg.runtime.max_inference_time
        assert get(load_config(env={})) == 1.0  # defaults
        assert get(load_config(env={}, environment="development")) == 30.0  # profile
        path = write(tmp_path, f"environment = 'development'\n[{key[0]}]\n{key[1]} = 12.5\n")
        assert get(load_config(path, env={})) == 12.5  # file over profile
        env = {"FUGUE_RUNTIME__MAX_INFERENCE_TIME": "7"}
        assert get(load_config(path, env=env)) == 7.0  # environment variable over file

    def test_untouched_keys_keep_lower_layers(self, tmp_path):
        path = write(tmp_path, "environment = 'development'\n[breaker]\nwindow_size = 50\n")
        cfg = load_config(path, env={"FUGUE_BREAKER__MINIMUM_CALLS": "5"})
        assert (cfg.log_level, cfg.breaker.window_size, cfg.breaker.minimum_calls,
                cfg.breaker.failure_threshold) == ("DEBUG", 50, 5, 0.5)

    def test_file_overrides_profile_log_level(self, tmp_path):
        path = write(tmp_path, "environment = 'development'\nlog_level = 'error'\n")
        assert load_config(path, env={}).log_level == "ERROR"
        assert load_config(path, env={"FUGUE_LOG_LEVEL": "info"}).log_level == "INFO"

    def test_environment_choice_precedence(self, tmp_path):
        path = write(tmp_path, "environment = 'staging'\n")
        assert load_config(env={}).environment == "production"
        assert load_config(path, env={}).environment == "staging"
        env = {"FUGUE_ENVIRONMENT": "Development"}
        assert load_config(path, env=env).environment == "development"
        assert load_config(path, env=env).log_level == "DEBUG"
        assert load_config(path, env=env, environment="production").environment == "production"
        assert load_config(path, env=env, environment="production").log_level == "WARNING"

    def test_model_params_merge_key_by_key(self, tmp_path):
        path = write(tmp_path, "[model]\nname = 'sensor'\nversion = '2.1'\n"
                               "[model.params]\nmu = 20.0\nsigma = 5.0\n"
                               "nested = {a = 1, b = [1, 2]}\n")
        env = {"FUGUE_MODEL__PARAMS__SIGMA": "2.5", "FUGUE_MODEL__PARAMS__NESTED__C": "[3]",
               "FUGUE_MODEL__PARAMS__LABEL": "hello world", "FUGUE_MODEL__PARAMS__FLAG": "true"}
        cfg = load_config(path, env=env)
        assert (cfg.model.name, cfg.model.version) == ("sensor", "2.1")
        p = cfg.model.params
        assert (p["mu"], p["sigma"], p["label"], p["flag"]) == (20.0, 2.5, "hello world", True)
        assert dict(p["nested"]) == {"a": 1, "b": (1, 2), "c": (3,)}

    def test_from_dict_is_the_file_layer(self, tmp_path):
        data = {"environment": "staging", "breaker": {"failure_threshold": 0.4},
                "monitor": {"ewma": {"L": 3.0}}, "model": {"params": {"x": [1, 2]}}}
        path = write(tmp_path, "environment = 'staging'\n[breaker]\nfailure_threshold = 0.4\n"
                               "[monitor.ewma]\nL = 3.0\n[model.params]\nx = [1, 2]\n")
        assert Config.from_dict(data) == load_config(path, env={})
        assert Config.from_dict(data, environment="development").log_level == "DEBUG"

    def test_load_config_reads_os_environ_by_default(self, monkeypatch):
        monkeypatch.setenv("FUGUE_BREAKER__WINDOW_SIZE", "42")
        assert load_config().breaker.window_size == 42

    def test_non_fugue_variables_ignored(self):
        cfg = load_config(env={"HOME": "/root", "FUGUEX": "1", "fugue_log_level": "DEBUG"})
        assert cfg == Config()


# ---------------------------------------------------------------- environment variable parsing


class TestEnvParsing:
    @pytest.mark.parametrize("text,value", [
        ("true", True), ("False", False), ("1", True), ("0", False), ("YES", True),
        ("no", False), (" on ", True), ("off", False)])
    def test_bool(self, text, value):
        assert load_config(env={"FUGUE_METRICS__ENABLED": text}).metrics.enabled is value

    def test_bool_invalid(self):
        e = error(env={"FUGUE_METRICS__ENABLED": "maybe"})
        assert str(e) == ("metrics.enabled: expected a boolean (true/false) (true/false, 1/0, "
                          "yes/no, on/off), got 'maybe' (environment variable "
                          "FUGUE_METRICS__ENABLED)")
        assert (e.key, e.layer, e.value) == ("metrics.enabled",
                                             "environment variable FUGUE_METRICS__ENABLED",
                                             "'maybe'")

    def test_int(self):
        assert load_config(env={"FUGUE_BREAKER__WINDOW_SIZE": " 250 "}).breaker.window_size == 250
        for bad in ("1.5", "abc", "", "1e3", "٣"):
            e = error(env={"FUGUE_BREAKER__WINDOW_SIZE": bad})
            assert e.key == "breaker.window_size"
            assert str(e).startswith("breaker.window_size: expected an integer, got ")

    def test_float(self):
        cfg = load_config(env={"FUGUE_BREAKER__FAILURE_THRESHOLD": "4e-1",
                               "FUGUE_BREAKER__OPEN_DURATION": "10"})
        assert cfg.breaker.failure_threshold == 0.4 and cfg.breaker.open_duration == 10.0
        e = error(env={"FUGUE_BREAKER__FAILURE_THRESHOLD": "high"})
        assert str(e) == ("breaker.failure_threshold: expected a number, got 'high' "
                          "(environment variable FUGUE_BREAKER__FAILURE_THRESHOLD)")

    def test_optional_float(self):
        env = {"FUGUE_BREAKER__SLOW_CALL_DURATION": "0.25"}
        assert load_config(env=env).breaker.slow_call_duration == 0.25
        for none in ("", "none", "NULL"):
            env = {"FUGUE_BREAKER__SLOW_CALL_DURATION": none}
            assert load_config(env=env).breaker.slow_call_duration is None

    def test_names_are_case_insensitive_below_the_prefix(self):
        cfg = load_config(env={"FUGUE_MONITOR__EWMA__L": "3.5", "FUGUE_monitor__cusum__H": "4"})
        assert cfg.monitor.ewma.L == 3.5 and cfg.monitor.cusum.h == 4.0

    @pytest.mark.parametrize("text", [f"{API_KEY},{API_KEY2}", f" {API_KEY} , {API_KEY2},",
                                      json.dumps([API_KEY, API_KEY2])])
    def test_secret_lists(self, text):
        cfg = load_config(env={"FUGUE_SECRETS__API_KEYS": text})
        assert [k.reveal() for k in cfg.secrets.api_keys] == [API_KEY, API_KEY2]
        assert all(isinstance(k, Secret) for k in cfg.secrets.api_keys)

    def test_secret_list_bad_json(self):
        e = error(env={"FUGUE_SECRETS__API_KEYS": f'["{API_KEY}", 5]'})
        assert str(e) == ("secrets.api_keys: expected a JSON list of strings or a "
                          "comma-separated list, got *** (environment variable "
                          "FUGUE_SECRETS__API_KEYS)")
        assert API_KEY not in str(e) and e.value == "***"

    def test_database_url(self):
        cfg = load_config(env={"FUGUE_SECRETS__DATABASE_URL": DB_URL})
        assert cfg.secrets.database_url.reveal() == DB_URL
        assert load_config(env={"FUGUE_SECRETS__DATABASE_URL": ""}).secrets.database_url is None

    def test_model_params_parse_as_json_else_string(self):
        env = {"FUGUE_MODEL__PARAMS__A": "20", "FUGUE_MODEL__PARAMS__B": "[1, 2]",
               "FUGUE_MODEL__PARAMS__C": "{\"x\": 1}", "FUGUE_MODEL__PARAMS__D": "not json",
               "FUGUE_MODEL__PARAMS__E": "\"quoted\"", "FUGUE_MODEL__PARAMS__F": "2.5"}
        p = load_config(env=env).model.params
        assert (p["a"], p["b"], dict(p["c"]), p["d"], p["e"], p["f"]) == (
            20, (1, 2), {"x": 1}, "not json", "quoted", 2.5)


# ---------------------------------------------------------------- unknown keys and types


class TestUnknownKeys:
    def test_file_misspelling_suggests_the_closest_key(self, tmp_path):
        path = write(tmp_path, "[breaker]\nfailure_treshold = 0.3\n")
        e = error(path=path)
        assert str(e) == (f"unknown key breaker.failure_treshold (file {path}); "
                          "did you mean breaker.failure_threshold?")
        assert (e.key, e.layer, e.suggestion) == ("breaker.failure_treshold", f"file {path}",
                                                  "breaker.failure_threshold")

    def test_unknown_section_and_top_level_key(self, tmp_path):
        path = write(tmp_path, "loglevel = 'INFO'\n[breakr]\nwindow_size = 3\n")
        e = error(path=path)
        assert [p.suggestion for p in e.problems] == ["log_level", "breaker"]
        assert str(e).startswith("2 configuration problems:\n  - unknown key loglevel (file ")

    def test_no_close_match_lists_valid_keys(self, tmp_path):
        e = error(path=write(tmp_path, "[metrics]\nzzz = 1\n"))
        assert str(e).endswith("valid keys here: enabled, window_seconds")
        assert e.suggestion is None

    def test_env_single_underscore_suggests_the_variable(self):
        e = error(env={"FUGUE_BREAKER_FAILURE_THRESHOLD": "0.4"})
        assert str(e) == ("unknown key breaker_failure_threshold (environment variable "
                          "FUGUE_BREAKER_FAILURE_THRESHOLD); did you mean "
                          "FUGUE_BREAKER__FAILURE_THRESHOLD?")
        assert e.suggestion == "FUGUE_BREAKER__FAILURE_THRESHOLD"

    def test_env_unknown_nested_key(self):
        e = error(env={"FUGUE_MONITOR__EWMA__LAMBDA": "0.3"})
        assert e.key == "monitor.ewma.lambda"
        assert e.layer == "environment variable FUGUE_MONITOR__EWMA__LAMBDA"

    @pytest.mark.parametrize("name,message", [
        ("FUGUE_BREAKER", "breaker is a section (environment variable FUGUE_BREAKER); set its "
                          "keys as FUGUE_BREAKER__<KEY>"),
        ("FUGUE_LOG_LEVEL__X", "log_level is not a section (environment variable "
                               "FUGUE_LOG_LEVEL__X); use FUGUE_LOG_LEVEL"),
        ("FUGUE_BREAKER__", "malformed name FUGUE_BREAKER__: empty key (use one '__' between "
                            "levels, e.g. FUGUE_BREAKER__FAILURE_THRESHOLD)"),
        ("FUGUE_MODEL__PARAMS", "model.params is a table (environment variable "
                                "FUGUE_MODEL__PARAMS); set one entry as "
                                "FUGUE_MODEL__PARAMS__<NAME>"),
    ])
    def test_env_structure_errors(self, name, message):
        assert str(error(env={name: "1"})) == message

    def test_env_value_not_a_string(self):
        e = error(env={"FUGUE_LOG_LEVEL": 5})
        assert str(e) == ("environment variable FUGUE_LOG_LEVEL: value must be a string, "
                          "got int")

    def test_from_dict_non_string_key(self):
        with pytest.raises(ConfigError) as info:
            Config.from_dict({1: 2})
        assert str(info.value) == ("unknown key 1 (mapping); valid keys here: environment, "
                                   "log_level, model, runtime, breaker, monitor, metrics, "
                                   "health, slo, secrets")

    def test_from_dict_needs_a_mapping(self):
        with pytest.raises(ConfigError, match="Config.from_dict: expected a mapping, got list"):
            Config.from_dict([])


class TestWrongTypes:
    @pytest.mark.parametrize("toml,message", [
        ("[breaker]\nfailure_threshold = 'high'",
         "breaker.failure_threshold: expected a number, got 'high'"),
        ("[breaker]\nwindow_size = 10.0", "breaker.window_size: expected an integer, got 10.0"),
        ("[breaker]\nwindow_size = true", "breaker.window_size: expected an integer, got True"),
        ("[metrics]\nenabled = 'yes'",
         "metrics.enabled: expected a boolean (true/false), got 'yes'"),
        ("log_level = 10", "log_level: expected a string, got 10"),
        ("breaker = 5", "breaker: expected a table, got 5"),
        ("[model]\nparams = [1]", "model.params: expected a table, got [1]"),
        ("[model]\nversion = 2", "model.version: expected a string, got 2"),
        ("[runtime]\nmax_inference_time = 1e400",
         "runtime.max_inference_time = inf ("),
    ])
    def test_file_type_errors(self, tmp_path, toml, message):
        path = write(tmp_path, toml + "\n")
        e = error(path=path)
        assert str(e).startswith(message)
        assert f"(file {path})" in str(e)

    def test_direct_construction_is_validated(self):
        with pytest.raises(ConfigError) as info:
            BreakerConfig(failure_threshold="x")
        assert str(info.value) == ("breaker.failure_threshold: expected a number, got 'x' "
                                   "(arguments)")
        with pytest.raises(ConfigError, match=r"^breaker: expected a BreakerConfig, got "
                                              r"\{'window_size': 3\} \(arguments\)$"):
            Config(breaker={"window_size": 3})
        with pytest.raises(ConfigError, match=r"breaker.window_size = 0 \(arguments\): must be "
                                              r"between 1 and 1000000"):
            dataclasses.replace(Config().breaker, window_size=0)

    def test_direct_construction_normalises(self):
        cfg = Config(log_level=" warn ", environment="Staging", breaker=BreakerConfig(
            window_size=10, minimum_calls=5, failure_threshold=1))
        assert (cfg.log_level, cfg.environment) == ("WARNING", "staging")
        assert type(cfg.breaker.failure_threshold) is float


# ---------------------------------------------------------------- value validation


class TestValues:
    @pytest.mark.parametrize("key,value,message", [
        ("breaker.failure_threshold", "1.5", "must be in [0, 1]"),
        ("breaker.degraded_threshold", "-0.1", "must be in [0, 1]"),
        ("breaker.recovery_threshold", "nan", "must be in [0, 1]"),
        ("runtime.error_threshold", "2", "must be in [0, 1]"),
        ("health.error_rate_unhealthy", "2", "must be in [0, 1]"),
        ("slo.availability_target", "1", "must be strictly between 0 and 1"),
        ("runtime.max_inference_time", "0", "must be a positive, finite number of seconds"),
        ("runtime.max_inference_time", "inf", "must be a positive, finite number of seconds"),
        ("breaker.open_duration", "-1", "must be > 0 and <= 1e9 seconds"),
        ("breaker.open_duration", "2e9", "must be > 0 and <= 1e9 seconds"),
        ("breaker.max_open_duration", "inf", "must be > 0 and <= 1e9 seconds"),
        ("breaker.slow_call_duration", "0", "must be > 0 and <= 1e9 seconds"),
        ("metrics.window_seconds", "0", "must be a positive, finite number of seconds"),
        ("breaker.window_size", "0", "must be between 1 and 1000000"),
        ("breaker.window_size", "1000001", "must be between 1 and 1000000"),
        ("breaker.minimum_calls", "0", "must be >= 1"),
        ("breaker.half_open_permits", "0", "must be between 1 and 2147483648"),
        ("runtime.pool_max_size", "0", "must be >= 1"),
        ("runtime.pool_min_size", "-1", "must be >= 0"),
        ("breaker.backoff_factor", "0.5", "must be a finite number >= 1"),
        ("monitor.ewma.lam", "0", "must be in (0, 1]"),
        ("monitor.ewma.lam", "1.5", "must be in (0, 1]"),
        ("monitor.ewma.L", "0", "must be > 0"),
        ("monitor.ewma.warmup", "1", "must be >= 2"),
        ("monitor.cusum.k", "-0.5", "must be >= 0"),
        ("monitor.cusum.h", "0", "must be > 0"),
        ("model.name", "my model", "must be 1 to 64 ASCII letters, digits, '_', '-' or '.'"),
        ("model.version", "", "must be 1 to 64 ASCII letters, digits, '_', '-' or '.'"),
    ])
    def test_invalid_values_name_key_layer_and_value(self, key, value, message):
        var = "FUGUE_" + key.upper().replace(".", "__")
        e = error(env={var: value})
        shown = str(e).split(" = ", 1)[1].split(" (", 1)[0]
        assert str(e) == f"{key} = {shown} (environment variable {var}): {message}"
        assert (e.key, e.layer, e.value) == (key, f"environment variable {var}", shown)

    def test_log_level_with_suggestion(self, tmp_path):
        path = write(tmp_path, "log_level = 'WARNNG'\n")
        e = error(path=path)
        assert str(e) == (f"log_level = 'WARNNG' (file {path}): must be one of 'CRITICAL', "
                          "'ERROR', 'WARNING', 'INFO', 'DEBUG', 'NOTSET'; did you mean "
                          "'WARNING'?")
        assert e.suggestion == "WARNING"

    @pytest.mark.parametrize("level,expected", [("debug", "DEBUG"), ("Warn", "WARNING"),
                                                ("fatal", "CRITICAL"), ("NOTSET", "NOTSET")])
    def test_log_levels_normalised(self, level, expected):
        assert load_config(env={"FUGUE_LOG_LEVEL": level}).log_level == expected

    @pytest.mark.parametrize("source", ["argument", "env", "file"])
    def test_environment_invalid_with_suggestion(self, tmp_path, source):
        kwargs = {"env": {}}
        if source == "argument":
            kwargs["environment"] = "prodution"
            layer = "arguments"
        elif source == "env":
            kwargs["env"] = {"FUGUE_ENVIRONMENT": "prodution"}
            layer = "environment variable FUGUE_ENVIRONMENT"
        else:
            kwargs["path"] = write(tmp_path, "environment = 'prodution'\n")
            layer = f"file {kwargs['path']}"
        e = error(**kwargs)
        assert str(e) == (f"environment = 'prodution' ({layer}): must be one of 'development', "
                          "'staging', 'production'; did you mean 'production'?")
        assert (e.key, e.layer, e.suggestion) == ("environment", layer, "production")

    def test_environment_of_wrong_type(self):
        with pytest.raises(ConfigError, match=r"environment = 5 \(arguments\): must be a "
                                              r"string"):
            load_config(env={}, environment=5)
        with pytest.raises(ConfigError, match=r"environment: expected a string, got 5 "
                                              r"\(mapping\)"):
            Config.from_dict({"environment": 5})

    @pytest.mark.parametrize("env,message", [
        ({"FUGUE_BREAKER__DEGRADED_THRESHOLD": "0.6"},
         "breaker.degraded_threshold = 0.6 (environment variable "
         "FUGUE_BREAKER__DEGRADED_THRESHOLD) and breaker.failure_threshold = 0.5 (defaults): "
         "degraded_threshold must not exceed failure_threshold"),
        ({"FUGUE_BREAKER__RECOVERY_THRESHOLD": "0.2"},
         "breaker.recovery_threshold = 0.2 (environment variable "
         "FUGUE_BREAKER__RECOVERY_THRESHOLD) and breaker.degraded_threshold = 0.05 (defaults): "
         "recovery_threshold must not exceed degraded_threshold"),
        ({"FUGUE_BREAKER__FAILURE_THRESHOLD": "0", "FUGUE_BREAKER__DEGRADED_THRESHOLD": "0",
          "FUGUE_BREAKER__RECOVERY_THRESHOLD": "0"},
         "breaker.failure_threshold = 0.0 (environment variable "
         "FUGUE_BREAKER__FAILURE_THRESHOLD): must be > 0 (an error rate of 0 would open the "
         "breaker on every call)"),
        ({"FUGUE_BREAKER__MINIMUM_CALLS": "200"},
         "breaker.minimum_calls = 200 (environment variable FUGUE_BREAKER__MINIMUM_CALLS) and "
         "breaker.window_size = 100 (defaults): minimum_calls must not exceed window_size"),
        ({"FUGUE_BREAKER__MAX_OPEN_DURATION": "10"},
         "breaker.open_duration = 30.0 (defaults) and breaker.max_open_duration = 10.0 "
         "(environment variable FUGUE_BREAKER__MAX_OPEN_DURATION): open_duration must not "
         "exceed max_open_duration"),
        ({"FUGUE_RUNTIME__POOL_MIN_SIZE": "65"},
         "runtime.pool_min_size = 65 (environment variable FUGUE_RUNTIME__POOL_MIN_SIZE) and "
         "runtime.pool_max_size = 64 (defaults): pool_min_size must not exceed pool_max_size"),
    ])
    def test_ordering(self, env, message):
        assert str(error(env=env)) == message

    def test_ordering_names_each_layer(self, tmp_path):
        path = write(tmp_path, "[breaker]\ndegraded_threshold = 0.3\n")
        e = error(path=path, env={"FUGUE_BREAKER__FAILURE_THRESHOLD": "0.2"})
        assert str(e) == (f"breaker.degraded_threshold = 0.3 (file {path}) and "
                          "breaker.failure_threshold = 0.2 (environment variable "
                          "FUGUE_BREAKER__FAILURE_THRESHOLD): degraded_threshold must not "
                          "exceed failure_threshold")

    def test_profile_layer_named(self):
        # a profile value that a file makes inconsistent is reported under the profile
        with pytest.raises(ConfigError) as info:
            Config.from_dict({"environment": "development",
                              "runtime": {"max_inference_time": -1}})
        assert str(info.value) == ("runtime.max_inference_time = -1.0 (mapping): must be a "
                                   "positive, finite number of seconds")
        assert C._layer_of("x") == "arguments"
        token = C._SOURCES.set({"log_level": "profile development"})
        try:
            with pytest.raises(ConfigError, match=r"\(profile development\)"):
                Config(log_level="loud")
        finally:
            C._SOURCES.reset(token)

    def test_secret_checks(self):
        e = error(env={"FUGUE_SECRETS__API_KEYS": json.dumps([API_KEY, "has space"])})
        assert str(e) == ("secrets.api_keys = *** (environment variable "
                          "FUGUE_SECRETS__API_KEYS): each key must be non-empty, printable "
                          "and without spaces")
        e = error(env={"FUGUE_SECRETS__API_KEYS": json.dumps([API_KEY, API_KEY])})
        assert str(e).endswith(": keys must be distinct")
        assert load_config(env={"FUGUE_SECRETS__DATABASE_URL": "  "}).secrets.database_url \
            is None  # an empty variable unsets it
        with pytest.raises(ConfigError) as info:
            Config.from_dict({"secrets": {"database_url": "   "}})
        assert str(info.value) == "secrets.database_url = *** (mapping): must not be empty"

    def test_every_problem_reported_at_once(self, tmp_path):
        path = write(tmp_path, "[breaker]\nfailure_treshold = 0.3\nwindow_size = 'x'\n"
                               "[monitor.ewma]\nlam = 2.0\n")
        e = error(path=path, env={"FUGUE_LOG_LEVEL": "loud", "FUGUE_METRICS__ENABLED": "2",
                                  "FUGUE_MONITOR__CUSUM__H": "-1"})
        assert [p.key for p in e.problems] == [
            "breaker.failure_treshold", "breaker.window_size", "metrics.enabled",
            "monitor.ewma.lam", "monitor.cusum.h", "log_level"]
        assert str(e).startswith("6 configuration problems:\n  - unknown key "
                                 "breaker.failure_treshold")
        assert all(isinstance(p, ConfigProblem) and p.message in str(e) for p in e.problems)
        assert e.key == "breaker.failure_treshold"


# ---------------------------------------------------------------- files


class TestFiles:
    def test_missing_file(self, tmp_path):
        e = error(path=tmp_path / "nope.toml")
        assert str(e) == f"file {tmp_path / 'nope.toml'}: no such file"
        assert e.layer == f"file {tmp_path / 'nope.toml'}"

    def test_directory(self, tmp_path):
        assert str(error(path=tmp_path)) == f"file {tmp_path}: is a directory"

    def test_invalid_toml(self, tmp_path):
        path = write(tmp_path, f"[secrets]\ndatabase_url = \"{DB_URL}\nbroken = \n")
        e = error(path=path)
        assert str(e).startswith(f"file {path}: invalid TOML: ")
        assert "line 2" in str(e)
        assert DB_URL not in str(e)
        assert e.__cause__ is None and e.__context__ is None

    def test_python_310_without_tomli(self, tmp_path, monkeypatch):
        path = write(tmp_path, "log_level = 'INFO'\n")
        monkeypatch.setattr(sys, "version_info", (3, 10, 12, "final", 0))
        monkeypatch.setitem(sys.modules, "tomli", None)
        e = error(path=path)
        assert str(e) == (f"file {path}: reading TOML files needs Python 3.11 or the 'tomli' "
                          "package (pip install tomli)")

    def test_to_toml_round_trip(self, tmp_path):
        path = write(tmp_path, "environment = 'staging'\nlog_level = 'ERROR'\n"
                               "[model]\nname = 'sensor'\n"
                               "[model.params]\nmu = 1.5\nxs = [1, 2]\ntable = {a = 'b'}\n"
                               "\"odd name\" = 'v\\n'\ninf_param = inf\nwhen = 2024-01-02\n"
                               "api_token = 'tok-123'\n"
                               "[breaker]\nslow_call_duration = 0.5\n"
                               "[secrets]\n"
                               f"database_url = '{DB_URL}'\napi_keys = ['{API_KEY}']\n")
        cfg = load_config(path, env={})
        text = cfg.to_toml()
        assert DB_URL not in text and API_KEY not in text and "tok-123" not in text
        assert "# [secrets] omitted" in text and "# api_token omitted" in text
        again = load_config(write(tmp_path, text, "again.toml"), env={})
        params = dict(cfg.model.params)
        del params["api_token"]
        expected = dataclasses.replace(
            cfg, secrets=SecretsConfig(),
            model=dataclasses.replace(cfg.model, params=params))
        assert again == expected

    def test_default_to_toml_round_trip(self, tmp_path):
        for environment in ("development", "staging", "production"):
            cfg = load_config(env={}, environment=environment)
            path = write(tmp_path, cfg.to_toml(), f"{environment}.toml")
            assert load_config(path, env={}) == cfg


# ---------------------------------------------------------------- immutability


class TestFrozen:
    def test_frozen_and_slotted(self):
        cfg = Config()
        with pytest.raises(dataclasses.FrozenInstanceError):
            cfg.log_level = "DEBUG"
        with pytest.raises(dataclasses.FrozenInstanceError):
            cfg.breaker.window_size = 3
        assert not hasattr(cfg, "__dict__") and not hasattr(cfg.breaker, "__dict__")

    def test_params_read_only_and_hashable(self):
        cfg = Config.from_dict({"model": {"params": {"a": [1, {"b": 2}]}}})
        with pytest.raises(TypeError):
            cfg.model.params["a"] = 1
        assert cfg.model.params["a"][1]["b"] == 2
        with pytest.raises(TypeError):
            cfg.model.params["a"][1]["b"] = 3
        assert hash(cfg) == hash(Config.from_dict({"model": {"params": {"a": [1, {"b": 2}]}}}))
        assert ModelConfig(params={"x": 1}) == ModelConfig(params={"x": 1})

    def test_config_without_secrets_pickles(self):
        cfg = Config.from_dict({"model": {"params": {"a": [1, 2]}}})
        assert pickle.loads(pickle.dumps(cfg)) == cfg
        assert copy.deepcopy(cfg) == cfg

    def test_dump_is_plain_and_json_serialisable(self):
        cfg = load_config(env={"FUGUE_SECRETS__API_KEYS": API_KEY,
                               "FUGUE_MODEL__PARAMS__XS": "[1, 2]"})
        d = cfg.dump()
        assert d["model"]["params"] == {"xs": [1, 2]}
        assert d["monitor"] == {"ewma": {"lam": 0.2, "L": 2.962, "warmup": 30},
                                "cusum": {"k": 0.5, "h": 5.0, "warmup": 30}}
        assert d["secrets"] == {"api_keys": ["***"], "database_url": None}
        assert json.loads(json.dumps(d)) == d


# ---------------------------------------------------------------- secrets


class TestSecret:
    def test_masked_renderings(self):
        s = Secret(DB_URL)
        for text in (repr(s), str(s), f"{s}", f"{s!r}", f"{s!s}", "%s" % s, "%r" % s,
                     "{}".format(s), format(s, ">10"), format(s, "d"), str([s]), repr((s,))):
            assert DB_URL not in text and "***" in text
        assert format(s, ">5") == "  ***"

    def test_equality_hash_bool(self):
        assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
        assert Secret("a") != "a" and "a" != Secret("a")
        assert hash(Secret("a")) == hash(Secret("a"))
        assert not Secret("") and Secret("x")
        assert Secret(Secret("z")).reveal() == "z"
        assert Secret("\ud800") == Secret("\ud800")

    def test_immutable_and_copy(self):
        s = Secret("x")
        with pytest.raises(AttributeError):
            s._value = "y"
        with pytest.raises(AttributeError):
            del s._value
        assert copy.copy(s) is s and copy.deepcopy(s) is s
        assert not hasattr(s, "__dict__")

    def test_pickling_refused(self):
        with pytest.raises(TypeError, match="Secret values cannot be pickled"):
            pickle.dumps(Secret(API_KEY))
        cfg = load_config(env={"FUGUE_SECRETS__API_KEYS": API_KEY})
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            with pytest.raises(TypeError, match="Secret values cannot be pickled") as info:
                pickle.dumps(cfg, protocol=protocol)
            assert API_KEY not in str(info.value)

    def test_type_error_does_not_show_the_value(self):
        with pytest.raises(TypeError, match="^Secret wraps a str, got bytes$"):
            Secret(b"raw-bytes-secret")

    def test_asdict_keeps_masking(self):
        cfg = load_config(env={"FUGUE_SECRETS__DATABASE_URL": DB_URL})
        d = dataclasses.asdict(cfg)
        assert isinstance(d["secrets"]["database_url"], Secret)
        assert DB_URL not in repr(d)


SECRETS_TOML = f"""
[secrets]
database_url = "{DB_URL}"
api_keys = ["{API_KEY}", "{API_KEY2}"]
"""


class TestSecretNeverLeaks:
    @pytest.fixture
    def cfg(self, tmp_path):
        return load_config(write(tmp_path, SECRETS_TOML + "[model.params]\npassword = 'pw-9'\n"),
                           env={"FUGUE_SECRETS__API_KEYS": f"{API_KEY},{API_KEY2}"})

    @staticmethod
    def clean(text):
        for s in (DB_URL, API_KEY, API_KEY2, "Sup3r-S3cret-pw", "pw-9"):
            assert s not in text

    def test_revealed_on_request(self, cfg):
        assert cfg.secrets.database_url.reveal() == DB_URL
        assert [k.reveal() for k in cfg.secrets.api_keys] == [API_KEY, API_KEY2]
        assert cfg.model.params["password"] == "pw-9"

    def test_repr_str_dump_json(self, cfg):
        self.clean(repr(cfg))
        self.clean(str(cfg))
        self.clean(repr(cfg.secrets))
        self.clean(repr(cfg.model))
        self.clean(str(cfg.dump()))
        self.clean(json.dumps(cfg.dump()))
        self.clean(cfg.to_toml())
        assert cfg.dump()["model"]["params"]["password"] == "***"

    def test_logging(self, cfg):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger = logging.getLogger("fugue_ppl.test_config_secrets")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            logger.info("config %s", cfg)
            logger.info("config %r", cfg)
            logger.info("secret %s %r", cfg.secrets.database_url, cfg.secrets.api_keys)
            logger.info("dump %s", cfg.dump())
            logger.info("%(url)s", {"url": cfg.secrets.database_url})
            logger.info(f"{cfg.secrets.database_url}")
        finally:
            logger.removeHandler(handler)
        text = stream.getvalue()
        assert text.count("***") >= 6
        self.clean(text)

    @pytest.mark.parametrize("bad", [
        "api_keys = 5", f"api_keys = [\"{API_KEY}\", 7]", "database_url = 42",
        f"database_url = \"{DB_URL}\"\nextra_key = 1", "api_keys = [\"\"]",
        f"database_url = \"{DB_URL}\"\napi_keys = [\"{API_KEY}\", \"{API_KEY}\"]",
    ])
    def test_exception_from_a_bad_value_in_the_same_section(self, tmp_path, bad):
        text = f"[secrets]\n{bad}\n"
        if "database_url" not in bad:
            text += f"database_url = \"{DB_URL}\"\n"
        path = write(tmp_path, text)
        with pytest.raises(ConfigError) as info:
            load_config(path, env={"FUGUE_SECRETS__DATABASE_URL": DB_URL})
        e = info.value
        self.clean(str(e))
        self.clean(repr(e))
        self.clean(repr(e.problems))
        self.clean("".join(traceback.format_exception(e)))
        assert e.__context__ is None and e.__cause__ is None

    def test_exception_from_env_secret(self):
        for env in ({"FUGUE_SECRETS__API_KEYS": f'["{API_KEY}"', "FUGUE_SECRETS__DATABASE_URL":
                     DB_URL},
                    {"FUGUE_SECRETS__API_KEYS": f"{API_KEY},{API_KEY}"},
                    {"FUGUE_SECRETS__API_KEYZ": API_KEY},
                    {"FUGUE_SECRETS": API_KEY},
                    {"FUGUE_SECRETS__DATABASE_URL__X": DB_URL}):
            with pytest.raises(ConfigError) as info:
                load_config(env=env)
            self.clean(str(info.value))
            self.clean("".join(traceback.format_exception(info.value)))

    def test_traceback_of_an_error_raised_while_holding_a_config(self, cfg):
        try:
            try:
                raise RuntimeError(f"failed with {cfg!r} and {cfg.secrets.database_url}")
            except RuntimeError as inner:
                raise ValueError(str(cfg.dump())) from inner
        except ValueError as e:
            text = "".join(traceback.format_exception(e))
        self.clean(text)
        assert "***" in text

    def test_secret_looking_param_masked_in_errors(self):
        e = error(env={"FUGUE_MODEL__PARAMS__API_TOKEN": "tok-abc",
                       "FUGUE_BREAKER__WINDOW_SIZE": "x"})
        assert "tok-abc" not in str(e)

    def test_secret_looking_key_in_a_section_masked(self, tmp_path):
        e = error(path=write(tmp_path, "secrets = 'hunter2'\n"))
        assert str(e).startswith("secrets: expected a table, got *** (file ")
        assert "hunter2" not in str(e)


def test_breaker_section_matches_the_circuit_breaker():
    """Same defaults as fugue_ppl.CircuitBreaker, and every accepted extreme is accepted there."""
    from fugue_ppl.serving._breaker import BreakerConfig as Settings

    def settings(section):
        return Settings(**section.breaker_kwargs())
    ours = settings(Config().breaker).to_dict()
    theirs = Settings().to_dict()
    assert ours == theirs
    extreme = load_config(env={
        "FUGUE_BREAKER__WINDOW_SIZE": "1000000", "FUGUE_BREAKER__MINIMUM_CALLS": "1000000",
        "FUGUE_BREAKER__OPEN_DURATION": "1e9", "FUGUE_BREAKER__MAX_OPEN_DURATION": "1e9",
        "FUGUE_BREAKER__SLOW_CALL_DURATION": "1e-9", "FUGUE_BREAKER__HALF_OPEN_PERMITS":
        str(2 ** 31), "FUGUE_BREAKER__FAILURE_THRESHOLD": "1",
        "FUGUE_BREAKER__DEGRADED_THRESHOLD": "1", "FUGUE_BREAKER__RECOVERY_THRESHOLD": "1",
        "FUGUE_BREAKER__BACKOFF_FACTOR": "1e6"})
    assert settings(extreme.breaker).window_size == 1_000_000
    timed = load_config(env={"FUGUE_BREAKER__WINDOW_TYPE": " Time ",
                             "FUGUE_BREAKER__WINDOW_SECONDS": "86400",
                             "FUGUE_BREAKER__MINIMUM_CALLS": "5000",
                             "FUGUE_BREAKER__RECOVERY_SUCCESS_RATE": "1e-9"})
    b = settings(timed.breaker)
    assert (b.window_type, b.window_seconds, b.minimum_calls, b.recovery_success_rate) == (
        "time", 86400.0, 5000, 1e-9)


def test_breaker_window_type_and_recovery_rate_reach_the_runner():
    from fugue_ppl.models import sensor
    cfg = load_config(env={"FUGUE_BREAKER__WINDOW_TYPE": "time",
                           "FUGUE_BREAKER__WINDOW_SECONDS": "30",
                           "FUGUE_BREAKER__RECOVERY_SUCCESS_RATE": "0.6"})
    assert cfg.breaker.window_type == "time" and cfg.breaker.window_seconds == 30.0
    bc = fp.ModelRunner(sensor, config=cfg, rng=0).breaker.config
    assert (bc.window_type, bc.window_seconds, bc.recovery_success_rate) == ("time", 30.0, 0.6)
    # A count window ignores window_seconds; minimum_calls is bounded by a count window only.
    assert load_config().breaker.breaker_kwargs()["window_size"] == 100
    with pytest.raises(ConfigError, match="minimum_calls must not exceed window_size"):
        load_config(env={"FUGUE_BREAKER__MINIMUM_CALLS": "500"})
    assert load_config(env={"FUGUE_BREAKER__MINIMUM_CALLS": "500",
                            "FUGUE_BREAKER__WINDOW_TYPE": "time"}).breaker.minimum_calls == 500


@pytest.mark.parametrize("key,value,message", [
    ("WINDOW_TYPE", "sliding", "breaker.window_type = 'sliding' (environment variable "
     "FUGUE_BREAKER__WINDOW_TYPE): must be one of 'count', 'time'"),
    ("RECOVERY_SUCCESS_RATE", "0", "breaker.recovery_success_rate = 0.0 (environment variable "
     "FUGUE_BREAKER__RECOVERY_SUCCESS_RATE): must be in (0, 1]"),
    ("RECOVERY_SUCCESS_RATE", "1.5", "must be in (0, 1]"),
    ("WINDOW_SECONDS", "0", "breaker.window_seconds = 0.0"),
    ("WINDOW_SECONDS", "inf", "must be > 0 and <= 86400 seconds"),
    ("WINDOW_SECONDS", "86401", "must be > 0 and <= 86400 seconds"),
])
def test_bad_breaker_window_settings(key, value, message):
    with pytest.raises(ConfigError) as info:
        load_config(env={f"FUGUE_BREAKER__{key}": value})
    assert message in str(info.value)


def test_profiles_only_name_known_keys():
    for name, profile in PROFILES.items():
        assert Config.from_dict(profile, environment=name).environment == name


def test_module_exports():
    for name in C.__all__:
        assert hasattr(C, name)
    assert EWMAConfig().lam == 0.2
    assert math.isclose(Config().monitor.ewma.L, 2.962)


def test_health_and_slo_sections():
    cfg = load_config(env={"FUGUE_RUNTIME__ERROR_THRESHOLD": "0.1",
                           "FUGUE_HEALTH__WINDOW": "30", "FUGUE_SLO__AVAILABILITY_TARGET": "0.995",
                           "FUGUE_SLO__LATENCY_P99": "0.25", "FUGUE_SLO__PERIOD_DAYS": "7"})
    assert (cfg.runtime.error_threshold, cfg.health.error_rate_unhealthy,
            cfg.health.window) == (0.1, 0.2, 30.0)
    assert (cfg.slo.availability_target, cfg.slo.latency_p99, cfg.slo.error_rate_threshold,
            cfg.slo.period_days) == (0.995, 0.25, None, 7.0)
    assert Config().health == C.HealthConfig() and Config().slo == C.SLOConfig()
    assert cfg.dump()["slo"] == {"availability_target": 0.995, "latency_p99": 0.25,
                                 "error_rate_threshold": None, "period_days": 7.0}


@pytest.mark.parametrize("env,message", [
    ({"FUGUE_HEALTH__LATENCY_FRACTION": "1.0"},
     "latency_fraction must be below latency_unhealthy_fraction"),
    ({"FUGUE_HEALTH__DEGRADED_THRESHOLD": "0.97"},
     "degraded_threshold must not exceed healthy_threshold"),
    ({"FUGUE_HEALTH__TREND_WINDOW": "300"}, "history_size must be at least trend_window"),
    ({"FUGUE_HEALTH__TREND_WINDOW": "1"}, "health.trend_window = 1"),
    ({"FUGUE_HEALTH__LATENCY_QUANTILE": "0"}, "must be in (0, 1]"),
    ({"FUGUE_HEALTH__WARMUP": "-1"}, "must be >= 0"),
    ({"FUGUE_SLO__AVAILABILITY_TARGET": "0"}, "must be strictly between 0 and 1"),
    ({"FUGUE_SLO__ERROR_RATE_THRESHOLD": "1"}, "must be strictly between 0 and 1"),
    ({"FUGUE_SLO__LATENCY_P99": "-1"}, "must be a positive, finite number of seconds"),
    ({"FUGUE_SLO__PERIOD_DAYS": "0"}, "must be > 0 and <= 3650 days"),
])
def test_bad_health_and_slo_settings(env, message):
    with pytest.raises(ConfigError) as info:
        load_config(env=env)
    assert message in str(info.value)


@pytest.mark.parametrize("value", ["121", "2.5", "-1"])
def test_metrics_window_is_a_whole_number_of_seconds_up_to_120(value):
    with pytest.raises(ConfigError, match="metrics.window_seconds"):
        load_config(env={"FUGUE_METRICS__WINDOW_SECONDS": value})
    assert load_config(env={"FUGUE_METRICS__WINDOW_SECONDS": "120"}).metrics.window_seconds == 120


def test_configure_logging_sets_the_package_loggers_level(caplog):
    pkg = logging.getLogger("fugue_ppl")
    before = pkg.level
    try:
        load_config(env={}).configure_logging()             # production: WARNING
        b = fp.CircuitBreaker(minimum_calls=2, window_size=2, degraded_threshold=0.4,
                              failure_threshold=0.9, name="logs")
        with caplog.at_level(logging.NOTSET):
            b.record_success()
            b.record_failure()                                # HEALTHY -> DEGRADED: info
        assert not [r for r in caplog.records if r.name == "fugue_ppl.breaker"]
        log = load_config(environment="development").configure_logging()
        assert log is pkg and pkg.level == logging.DEBUG
        b.reset()                                            # (logs DEGRADED -> HEALTHY)
        caplog.clear()
        with caplog.at_level(logging.NOTSET):
            b.record_success()
            b.record_failure()
        assert [r.getMessage() for r in caplog.records if r.name == "fugue_ppl.breaker"] == [
            "circuit breaker 'logs': HEALTHY -> DEGRADED"]
    finally:
        pkg.setLevel(before)
