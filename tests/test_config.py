"""Tests of fugue_ppl.config: layers, parsing, validation, errors and secret masking."""

import copy
import dataclasses
import doctest
import io
import json
import logging
import math
import pathlib
import pickle
import sys
import traceback

import pytest

import fugue_ppl as fp
import fugue_ppl.serving.slo
from fugue_ppl import config as C
from fugue_ppl.config import (
    PROFILES,
    BreakerConfig,
    Config,
    ConfigProblem,
    EWMAConfig,
    HealthSettings,
    MetricsConfig,
    ModelConfig,
    RuntimeConfig,
    Secret,
    SecretsConfig,
    SLOConfig,
    load_config,
)
from fugue_ppl.errors import ConfigError, FugueError, InvalidArgument
from fugue_ppl.models import sensor
from fugue_ppl.serving import health

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
    assert result.attempted > 12            # (Secret's run with the checking kit's)
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
                                            pool_min_size=0)
        assert cfg.metrics.enabled is True and cfg.metrics.window_seconds == 60
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
        assert Config().secrets == SecretsConfig(api_keys=(), database_url=None,
                                                 audit_key=None)

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
        assert str(e) == ("metrics.enabled: expected a bool (true/false, 1/0, yes/no, on/off), "
                          "got 'maybe' (environment variable FUGUE_METRICS__ENABLED)")
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
        assert str(e) == ("breaker.failure_threshold: expected a real number, got 'high' "
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
        ("FUGUE_BREAKER", ("breaker is a section (environment variable FUGUE_BREAKER); set its "
                           "keys as FUGUE_BREAKER__<KEY>")),
        ("FUGUE_LOG_LEVEL__X", ("log_level is not a section (environment variable "
                                "FUGUE_LOG_LEVEL__X); use FUGUE_LOG_LEVEL")),
        ("FUGUE_BREAKER__", ("malformed name FUGUE_BREAKER__: empty key (use one '__' between "
                             "levels, e.g. FUGUE_BREAKER__FAILURE_THRESHOLD)")),
        ("FUGUE_MODEL__PARAMS", ("model.params is a table (environment variable "
                                 "FUGUE_MODEL__PARAMS); set one entry as "
                                 "FUGUE_MODEL__PARAMS__<NAME>")),
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
                                   "inference, "
                                   "health, drift, slo, registry, rollout, analysis, service, "
                                   "auth, rate_limit, audit, status, secrets")

    def test_from_dict_needs_a_mapping(self):
        with pytest.raises(ConfigError, match="Config.from_dict: expected a mapping, got list"):
            Config.from_dict([])


class TestWrongTypes:
    @pytest.mark.parametrize("toml,message", [
        ("[breaker]\nfailure_threshold = 'high'",
         "breaker.failure_threshold: expected a real number, got 'high' ({layer})"),
        ("[breaker]\nwindow_size = 10.5",
         "breaker.window_size = 10.5 ({layer}): must be an integer"),
        ("[breaker]\nwindow_size = true", ("breaker.window_size: expected an integer, got True "
                                           "({layer})")),
        ("[metrics]\nenabled = 'yes'", "metrics.enabled: expected a bool, got 'yes' ({layer})"),
        ("log_level = 10", "log_level: expected a str, got 10 ({layer})"),
        ("breaker = 5", "breaker: expected a table, got 5 ({layer})"),
        ("[model]\nparams = [1]", "model.params: expected a table, got [1] ({layer})"),
        ("[model]\nversion = 2", "model.version: expected a str, got 2 ({layer})"),
        ("[runtime]\nmax_inference_time = 1e400",
         "runtime.max_inference_time = inf ({layer}): must be a finite number of seconds > 0"),
    ])
    def test_file_type_errors(self, tmp_path, toml, message):
        path = write(tmp_path, toml + "\n")
        e = error(path=path)
        assert str(e) == message.format(layer=f"file {path}")

    @pytest.mark.parametrize("data, message", [
        ({"secrets": {"api_keys": "k-1"}},
         "secrets.api_keys: expected a list of strings, got *** (mapping)"),
        ({"secrets": {"database_url": 5}},
         "secrets.database_url: expected a str, got *** (mapping)"),
        ({"health": {"weights": [1]}}, "health.weights: expected a table, got [1] (mapping)"),
        ({"health": {"weights": {"pool": "x"}}},
         "health.weights['pool']: expected a real number (mapping)"),
        ({"health": {"weights": {1: 2.0}}},
         "health.weights: keys must be strings, got 1 (mapping)"),
    ])
    def test_types_inside_tables_and_secrets(self, data, message):
        with pytest.raises(ConfigError) as info:
            Config.from_dict(data)
        assert str(info.value) == message

    def test_an_integral_float_is_an_integer(self, tmp_path):
        cfg = load_config(write(tmp_path, "[breaker]\nwindow_size = 10.0\n"), env={})
        assert cfg.breaker.window_size == 10 and type(cfg.breaker.window_size) is int

    def test_direct_construction_is_checked_by_the_settings_types(self):
        # (no layers: the kit's rule, TypeError for a type and InvalidArgument for a value)
        with pytest.raises(TypeError) as info:
            BreakerConfig(failure_threshold="x")
        assert str(info.value) == "BreakerConfig: failure_threshold must be a real number, got str"
        with pytest.raises(TypeError) as info:
            Config(breaker={"window_size": 3})
        assert str(info.value) == "Config: breaker must be a BreakerConfig, got dict"
        with pytest.raises(InvalidArgument) as info:
            dataclasses.replace(Config().breaker, window_size=0)
        assert str(info.value) == "BreakerConfig: window_size must be in [1, 1000000], got 0"
        with pytest.raises(InvalidArgument) as info:
            Config(log_level="loud")
        assert str(info.value) == ("Config: log_level must be one of 'CRITICAL', 'ERROR', "
                                   "'WARNING', 'INFO', 'DEBUG', 'NOTSET', got 'loud'")

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
        ("health.error_rate_degraded", "2", "must be in [0, 1]"),
        ("health.error_rate_unhealthy", "2", "must be in [0, 1]"),
        ("slo.availability_target", "1", "must be in (0, 1)"),
        ("runtime.max_inference_time", "0", "must be a finite number of seconds > 0"),
        ("runtime.max_inference_time", "inf", "must be a finite number of seconds > 0"),
        ("breaker.open_duration", "-1", "must be a finite number of seconds > 0 and <= 1e+09"),
        ("breaker.open_duration", "2e9", "must be a finite number of seconds > 0 and <= 1e+09"),
        ("breaker.max_open_duration", "inf",
         "must be a finite number of seconds > 0 and <= 1e+09"),
        ("breaker.slow_call_duration", "0",
         "must be a finite number of seconds > 0 and <= 1e+09"),
        ("metrics.window_seconds", "0", "must be in [1, 120]"),
        ("metrics.window_seconds", "121", "must be in [1, 120]"),
        ("breaker.window_size", "0", "must be in [1, 1000000]"),
        ("breaker.window_size", "1000001", "must be in [1, 1000000]"),
        ("breaker.minimum_calls", "0", "must be in [1, 4611686018427387904]"),
        ("breaker.half_open_permits", "0", "must be in [1, 2147483648]"),
        ("runtime.pool_max_size", "0", "must be in [1, 1048576]"),
        ("runtime.pool_min_size", "-1", "must be in [0, 1048576]"),
        ("breaker.backoff_factor", "0.5", "must be finite and >= 1"),
        ("monitor.ewma.lam", "0", "must be in (0, 1]"),
        ("monitor.ewma.lam", "1.5", "must be in (0, 1]"),
        ("monitor.ewma.L", "0", "must be finite and > 0"),
        ("monitor.ewma.warmup", "1", "must be in [2, 4611686018427387904]"),
        ("monitor.cusum.k", "-0.5", "must be finite and >= 0"),
        ("monitor.cusum.h", "0", "must be finite and > 0"),
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
        e = error(environment=5)
        assert str(e) == "environment: expected a str, got 5 (arguments)"
        assert e.__context__ is None and e.__cause__ is None
        with pytest.raises(ConfigError) as info:
            Config.from_dict({"environment": 5})
        assert str(info.value) == "environment: expected a str, got 5 (mapping)"

    @pytest.mark.parametrize("env,message", [
        ({"FUGUE_BREAKER__DEGRADED_THRESHOLD": "0.6"},
         ("breaker.degraded_threshold = 0.6 (environment variable "
          "FUGUE_BREAKER__DEGRADED_THRESHOLD) and breaker.failure_threshold = 0.5 (defaults): "
          "degraded_threshold must not exceed failure_threshold")),
        ({"FUGUE_BREAKER__RECOVERY_THRESHOLD": "0.2"},
         ("breaker.recovery_threshold = 0.2 (environment variable "
          "FUGUE_BREAKER__RECOVERY_THRESHOLD) and breaker.degraded_threshold = 0.05 (defaults): "
          "recovery_threshold must not exceed degraded_threshold")),
        ({"FUGUE_BREAKER__MAX_OPEN_DURATION": "10"},
         ("breaker.max_open_duration = 10.0 (environment variable "
          "FUGUE_BREAKER__MAX_OPEN_DURATION) and breaker.open_duration = 30.0 (defaults): "
          "max_open_duration must be at least open_duration")),
        ({"FUGUE_RUNTIME__POOL_MIN_SIZE": "65"},
         ("runtime.pool_min_size = 65 (environment variable FUGUE_RUNTIME__POOL_MIN_SIZE) and "
          "runtime.pool_max_size = 64 (defaults): pool_min_size must not exceed pool_max_size")),
    ])
    def test_ordering(self, env, message):
        assert str(error(env=env)) == message

    def test_the_breakers_own_rules_hold(self):
        # thresholds may all be 0 (any failure opens) and a count window caps minimum_calls:
        # the breaker's rules, not the config's
        cfg = load_config(env={"FUGUE_BREAKER__FAILURE_THRESHOLD": "0",
                               "FUGUE_BREAKER__DEGRADED_THRESHOLD": "0",
                               "FUGUE_BREAKER__RECOVERY_THRESHOLD": "0",
                               "FUGUE_BREAKER__MINIMUM_CALLS": "200"})
        b = fp.CircuitBreaker(cfg.breaker)
        assert b.config is cfg.breaker and b.metrics["minimum_calls"] == 100

    def test_ordering_names_each_layer(self, tmp_path):
        path = write(tmp_path, "[breaker]\ndegraded_threshold = 0.3\n")
        e = error(path=path, env={"FUGUE_BREAKER__FAILURE_THRESHOLD": "0.2"})
        assert str(e) == (f"breaker.degraded_threshold = 0.3 (file {path}) and "
                          "breaker.failure_threshold = 0.2 (environment variable "
                          "FUGUE_BREAKER__FAILURE_THRESHOLD): degraded_threshold must not "
                          "exceed failure_threshold")

    def test_profile_layer_named(self):
        with pytest.raises(ConfigError) as info:
            Config.from_dict({"environment": "development",
                              "runtime": {"max_inference_time": -1}})
        assert str(info.value) == ("runtime.max_inference_time = -1 (mapping): must be a "
                                   "finite number of seconds > 0")
        # a profile value that a file makes inconsistent is reported under the profile
        with pytest.raises(ConfigError) as info:
            Config.from_dict({"environment": "development",
                              "runtime": {"pool_max_size": 4, "pool_min_size": 8}})
        assert str(info.value) == ("runtime.pool_min_size = 8 (mapping) and "
                                   "runtime.pool_max_size = 4 (mapping): pool_min_size must not "
                                   "exceed pool_max_size")
        with pytest.raises(ConfigError) as info:
            Config.from_dict({"environment": "staging", "health": {"latency_fraction": 2.0}},
                             environment="development")
        assert str(info.value) == ("health.latency_fraction = 2.0 (mapping) and "
                                   "health.latency_unhealthy_fraction = 1.0 (defaults): "
                                   "latency_fraction must be below latency_unhealthy_fraction")
        assert info.value.layer == "mapping"

    def test_secret_checks(self):
        e = error(env={"FUGUE_SECRETS__API_KEYS": json.dumps([API_KEY, "has space"])})
        assert str(e) == ("secrets.api_keys = *** (environment variable "
                          "FUGUE_SECRETS__API_KEYS): must hold non-empty, printable keys "
                          "without spaces")
        e = error(env={"FUGUE_SECRETS__API_KEYS": json.dumps([API_KEY, API_KEY])})
        assert str(e) == ("secrets.api_keys = *** (environment variable "
                          "FUGUE_SECRETS__API_KEYS): must hold distinct keys")
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
        assert d["secrets"] == {"api_keys": ["***"], "database_url": None, "audit_key": None}
        assert json.loads(json.dumps(d)) == d


# ---------------------------------------------------------------- secrets


class TestSecret:
    def test_masked_renderings(self):
        s = Secret(DB_URL)
        # (every way of formatting: %-formatting and str.format included)
        for text in (repr(s), str(s), f"{s}", f"{s!r}", f"{s!s}", "%s" % s, "%r" % s,  # noqa: UP031
                     "{}".format(s), format(s, ">10"), format(s, "d"), str([s]),  # noqa: UP032
                     repr((s,))):
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


def test_the_sections_are_the_components_settings_types():
    from fugue_ppl.monitoring import CUSUMConfig
    from fugue_ppl.serving.slo import SLOConfig as Objectives
    cfg = Config()
    assert (type(cfg.breaker), type(cfg.runtime), type(cfg.model), type(cfg.metrics),
            type(cfg.monitor.ewma), type(cfg.monitor.cusum), type(cfg.health),
            type(cfg.slo)) == (fp.serving.BreakerConfig, fp.serving.RuntimeConfig,
                               fp.serving.ModelConfig, fp.monitoring.MetricsConfig,
                               fp.monitoring.EWMAConfig, CUSUMConfig, HealthSettings, Objectives)
    assert (cfg.breaker, cfg.health, cfg.slo, cfg.metrics) == (
        BreakerConfig(), HealthSettings(), SLOConfig(), MetricsConfig())


def test_breaker_section_matches_the_circuit_breaker():
    """The section is the breaker's settings; every accepted extreme is accepted there."""
    def settings(section):
        return fp.CircuitBreaker(section).config
    assert settings(Config().breaker) == BreakerConfig()
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
    # a count window caps minimum_calls at its size; a time window does not
    counted = fp.ModelRunner(sensor, rng=0, config=load_config(
        env={"FUGUE_BREAKER__MINIMUM_CALLS": "500"}))
    assert counted.breaker.metrics["minimum_calls"] == 100
    timed = fp.ModelRunner(sensor, rng=0, config=load_config(
        env={"FUGUE_BREAKER__MINIMUM_CALLS": "500", "FUGUE_BREAKER__WINDOW_TYPE": "time"}))
    assert timed.breaker.metrics["minimum_calls"] == 500


@pytest.mark.parametrize("key,value,message", [
    ("WINDOW_TYPE", "sliding", ("breaker.window_type = 'sliding' (environment variable "
     "FUGUE_BREAKER__WINDOW_TYPE): must be one of 'count', 'time'")),
    ("RECOVERY_SUCCESS_RATE", "0", ("breaker.recovery_success_rate = 0.0 (environment variable "
     "FUGUE_BREAKER__RECOVERY_SUCCESS_RATE): must be in (0, 1]")),
    ("RECOVERY_SUCCESS_RATE", "1.5", ("breaker.recovery_success_rate = 1.5 (environment "
     "variable FUGUE_BREAKER__RECOVERY_SUCCESS_RATE): must be in (0, 1]")),
    ("WINDOW_SECONDS", "0", ("breaker.window_seconds = 0.0 (environment variable "
     "FUGUE_BREAKER__WINDOW_SECONDS): must be a finite number of seconds > 0 and <= 86400")),
    ("WINDOW_SECONDS", "inf", ("breaker.window_seconds = inf (environment variable "
     "FUGUE_BREAKER__WINDOW_SECONDS): must be a finite number of seconds > 0 and <= 86400")),
    ("WINDOW_SECONDS", "86401", ("breaker.window_seconds = 86401.0 (environment variable "
     "FUGUE_BREAKER__WINDOW_SECONDS): must be a finite number of seconds > 0 and <= 86400")),
])
def test_bad_breaker_window_settings(key, value, message):
    with pytest.raises(ConfigError) as info:
        load_config(env={f"FUGUE_BREAKER__{key}": value})
    assert str(info.value) == message


def test_profiles_only_name_known_keys():
    for name, profile in PROFILES.items():
        assert Config.from_dict(profile, environment=name).environment == name


def test_module_exports():
    for name in C.__all__:
        assert hasattr(C, name)
    assert EWMAConfig().lam == 0.2
    assert math.isclose(Config().monitor.ewma.L, 2.962)


def test_health_and_slo_sections():
    cfg = load_config(env={"FUGUE_HEALTH__ERROR_RATE_DEGRADED": "0.1",
                           "FUGUE_HEALTH__WINDOW": "30", "FUGUE_SLO__AVAILABILITY_TARGET": "0.995",
                           "FUGUE_SLO__LATENCY_P99": "0.25", "FUGUE_SLO__PERIOD_DAYS": "7",
                           "FUGUE_HEALTH__WEIGHTS__POOL": "2.5", "FUGUE_HEALTH__TIMEOUT": "0.5"})
    assert (cfg.health.error_rate_degraded, cfg.health.error_rate_unhealthy,
            cfg.health.window, cfg.health.timeout) == (0.1, 0.2, 30.0, 0.5)
    assert dict(cfg.health.weights) == {**health.DEFAULT_WEIGHTS, "pool": 2.5}
    assert (cfg.slo.availability_target, cfg.slo.latency_p99, cfg.slo.error_rate_threshold,
            cfg.slo.period_days) == (0.995, 0.25, None, 7.0)
    assert Config().health == HealthSettings() and Config().slo == SLOConfig()
    # the error rate above which health is degraded has one name: health.error_rate_degraded
    e = error(env={"FUGUE_RUNTIME__ERROR_THRESHOLD": "0.1"})
    assert str(e) == ("unknown key runtime.error_threshold (environment variable "
                      "FUGUE_RUNTIME__ERROR_THRESHOLD); did you mean "
                      "FUGUE_SLO__ERROR_RATE_THRESHOLD?")
    assert cfg.dump()["slo"] == {"availability_target": 0.995, "latency_p99": 0.25,
                                 "error_rate_threshold": None, "period_days": 7.0}


@pytest.mark.parametrize("env,message", [
    ({"FUGUE_HEALTH__LATENCY_FRACTION": "1.0"},
     ("health.latency_fraction = 1.0 (environment variable FUGUE_HEALTH__LATENCY_FRACTION) and "
      "health.latency_unhealthy_fraction = 1.0 (defaults): latency_fraction must be below "
      "latency_unhealthy_fraction")),
    ({"FUGUE_HEALTH__DEGRADED_THRESHOLD": "0.97"},
     ("health.degraded_threshold = 0.97 (environment variable FUGUE_HEALTH__DEGRADED_THRESHOLD) "
      "and health.healthy_threshold = 0.96 (defaults): degraded_threshold must be below "
      "healthy_threshold")),
    ({"FUGUE_HEALTH__TREND_WINDOW": "300"},
     ("health.history_size = 256 (defaults) and health.trend_window = 300 (environment variable "
      "FUGUE_HEALTH__TREND_WINDOW): history_size must be at least trend_window")),
    ({"FUGUE_HEALTH__TREND_WINDOW": "1"},
     "health.trend_window = 1 (environment variable FUGUE_HEALTH__TREND_WINDOW): must be >= 2"),
    ({"FUGUE_HEALTH__LATENCY_QUANTILE": "0"},
     ("health.latency_quantile = 0.0 (environment variable FUGUE_HEALTH__LATENCY_QUANTILE): must "
      "be in (0, 1]")),
    ({"FUGUE_HEALTH__WARMUP": "-1"},
     "health.warmup = -1 (environment variable FUGUE_HEALTH__WARMUP): must be >= 0"),
    ({"FUGUE_HEALTH__WEIGHTS__POOL": "-1"},
     ("health.weights['pool'] = -1.0 (environment variable FUGUE_HEALTH__WEIGHTS__POOL): must be "
      "finite and >= 0")),
    ({"FUGUE_HEALTH__WEIGHTS__POOLS": "1"},
     ("health.weights key = 'pools' (environment variable FUGUE_HEALTH__WEIGHTS__POOLS): must be "
      "a built-in check's name (did you mean 'pool'?)")),
    ({"FUGUE_HEALTH__WEIGHTS__POOL": "x"},
     ("health.weights.pool: expected a real number, got 'x' (environment variable "
      "FUGUE_HEALTH__WEIGHTS__POOL)")),
    ({"FUGUE_SLO__AVAILABILITY_TARGET": "0"},
     ("slo.availability_target = 0.0 (environment variable FUGUE_SLO__AVAILABILITY_TARGET): must "
      "be in (0, 1)")),
    ({"FUGUE_SLO__ERROR_RATE_THRESHOLD": "1"},
     ("slo.error_rate_threshold = 1.0 (environment variable FUGUE_SLO__ERROR_RATE_THRESHOLD): "
      "must be in (0, 1)")),
    ({"FUGUE_SLO__LATENCY_P99": "-1"},
     ("slo.latency_p99 = -1.0 (environment variable FUGUE_SLO__LATENCY_P99): must be a finite "
      "number of seconds > 0")),
    ({"FUGUE_SLO__PERIOD_DAYS": "0"},
     ("slo.period_days = 0.0 (environment variable FUGUE_SLO__PERIOD_DAYS): must be finite and "
      "> 0")),
    ({"FUGUE_SLO__PERIOD_DAYS": "1e9"},
     ("slo.period_days = 1000000000.0 (environment variable FUGUE_SLO__PERIOD_DAYS): must be at "
      "most 999999999 days")),
])
def test_bad_health_and_slo_settings(env, message):
    assert str(error(env=env)) == message


def test_the_slo_period_limit_is_the_objectives_own():
    longest = load_config(env={"FUGUE_SLO__PERIOD_DAYS": "999999999"})
    slos = fp.serving.slo.ServiceLevelObjectives.from_config(longest)
    assert slos.period.days == 999999999


@pytest.mark.parametrize("value, message", [
    ("121", ("metrics.window_seconds = 121 (environment variable FUGUE_METRICS__WINDOW_SECONDS): "
             "must be in [1, 120]")),
    ("2.5", ("metrics.window_seconds: expected an integer, got '2.5' (environment variable "
             "FUGUE_METRICS__WINDOW_SECONDS)")),
    ("-1", ("metrics.window_seconds = -1 (environment variable FUGUE_METRICS__WINDOW_SECONDS): "
            "must be in [1, 120]")),
])
def test_metrics_window_is_a_whole_number_of_seconds_up_to_120(value, message):
    assert str(error(env={"FUGUE_METRICS__WINDOW_SECONDS": value})) == message
    cfg = load_config(env={"FUGUE_METRICS__WINDOW_SECONDS": "120"})
    assert cfg.metrics.window_seconds == 120
    assert fp.ModelRunner(sensor, config=cfg).metrics.window == 120


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


# ---------------------------------------------------------------- regressions


NESTED_SECRETS_ENV = {
    "FUGUE_MODEL__PARAMS__DB__PASSWORD": "pw-in-clear",
    "FUGUE_MODEL__PARAMS__DB__HOST": "db.internal",
    "FUGUE_MODEL__PARAMS__CREDS": '{"private_key": "pk-in-clear", "user": "svc"}',
    "FUGUE_MODEL__PARAMS__TABLES": '[{"name": "t1", "secret": "s-in-clear"}, [{"token": '
                                   '"tok-in-clear"}]]',
}
NESTED_SECRETS = ("pw-in-clear", "pk-in-clear", "s-in-clear", "tok-in-clear")


def test_nested_secret_looking_params_are_masked_in_every_rendering(tmp_path):
    cfg = load_config(env=NESTED_SECRETS_ENV)
    p = cfg.model.params
    assert (p["db"]["password"], p["creds"]["private_key"], p["tables"][0]["secret"],
            p["tables"][1][0]["token"]) == NESTED_SECRETS          # the values are kept
    text = cfg.to_toml()
    renderings = [repr(cfg), str(cfg), repr(cfg.model), repr(p), str(cfg.dump()),
                  json.dumps(cfg.dump()), text]
    for r in renderings:
        for secret in NESTED_SECRETS:
            assert secret not in r
    assert cfg.dump()["model"]["params"] == {
        "db": {"password": "***", "host": "db.internal"},
        "creds": {"private_key": "***", "user": "svc"},
        "tables": [{"name": "t1", "secret": "***"}, [{"token": "***"}]]}
    # to_toml leaves them out, saying so, and reads back into the config without them
    assert ("[model.params.db]\nhost = \"db.internal\"\n# password omitted (a secret-looking "
            "name)\n") in text
    assert "# private_key omitted (a secret-looking name)\n" in text
    assert "# tables[0].secret omitted (a secret-looking name)\n" in text
    assert "# tables[1][0].token omitted (a secret-looking name)\n" in text
    again = load_config(write(tmp_path, text), env={})
    assert thaw_params(again) == {"db": {"host": "db.internal"}, "creds": {"user": "svc"},
                                  "tables": [{"name": "t1"}, [{}]]}


def thaw_params(cfg):
    from fugue_ppl.checks import thaw
    return thaw(cfg.model.params)


def test_nested_secrets_are_masked_in_errors(tmp_path):
    path = write(tmp_path, "[model]\nparams = [{db = {password = 'pw-in-clear'}}]\n")
    e = error(path=path)
    assert str(e) == f"model.params: expected a table, got [{{'db': {{...}}}}] (file {path})"
    path = write(tmp_path, "[model]\nparams = [{password = 'pw-in-clear'}]\n", "flat.toml")
    e = error(path=path)
    assert str(e) == f"model.params: expected a table, got [{{'password': '***'}}] (file {path})"
    e = error(env={"FUGUE_MODEL__PARAMS__DB__PASSWORD": "pw-in-clear",
                   "FUGUE_BREAKER__WINDOW_SIZE": "x"})
    assert "pw-in-clear" not in str(e) and "pw-in-clear" not in repr(e.problems)


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes("[model]\nname = 'caf\u00e9'\n".encode("latin-1"))
    e = error(path=path)
    assert type(e) is ConfigError
    assert str(e) == f"file {path}: is not UTF-8 text (byte 19 of the file)"
    assert (e.key, e.layer) == (None, f"file {path}")
    assert e.__context__ is None and e.__cause__ is None


@pytest.mark.parametrize("text", [
    "[model.params]\nx = " + "[" * 500 + "]" * 500 + "\n",
    "[model.params]\nx = " + "{a = " * 500 + "1" + "}" * 500 + "\n",
])
def test_toml_nested_too_deeply_for_the_parser_is_a_config_error(tmp_path, text):
    path = write(tmp_path, text)
    e = error(path=path)
    assert str(e) == f"file {path}: invalid TOML: tables or lists nested too deeply"
    assert e.__context__ is None and e.__cause__ is None


def test_500_nested_tables_are_a_config_error(tmp_path):
    path = write(tmp_path, "[model.params." + ".".join(["a"] * 500) + "]\nx = 1\n")
    e = error(path=path)
    assert str(e) == f"file {path}: nested deeper than 32 tables or lists"
    deep: dict = {}
    node = deep
    for _ in range(500):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"model": {"params": deep}})
    assert str(info.value) == "mapping: nested deeper than 32 tables or lists"
    e = error(env={"FUGUE_MODEL__PARAMS__X": "[" * 500 + "]" * 500})
    assert str(e) == ("model.params: nested deeper than 32 tables or lists (environment "
                      "variable FUGUE_MODEL__PARAMS__X)")
    ok = load_config(env={"FUGUE_MODEL__PARAMS__X": "[" * 20 + "]" * 20})
    nested = ()
    for _ in range(19):
        nested = (nested,)
    assert ok.model.params["x"] == nested


def test_pool_sizes_beyond_the_trace_pools_limit_are_refused_by_the_config():
    from fugue_ppl.core._runtime import MAX_POOL_SIZE
    e = error(env={"FUGUE_RUNTIME__POOL_MAX_SIZE": "2000000"})
    assert str(e) == ("runtime.pool_max_size = 2000000 (environment variable "
                      f"FUGUE_RUNTIME__POOL_MAX_SIZE): must be in [1, {MAX_POOL_SIZE}]")
    # the limit is the pool's own: the largest the config accepts, the pool accepts
    cfg = load_config(env={"FUGUE_RUNTIME__POOL_MAX_SIZE": str(MAX_POOL_SIZE)})
    assert fp.TracePool(cfg.runtime.pool_max_size).max_size == MAX_POOL_SIZE
    with pytest.raises(ValueError):
        fp.TracePool(MAX_POOL_SIZE + 1)


# ---------------------------------------------------------------- the reference


ROOT = pathlib.Path(__file__).resolve().parents[1]


def _leaves(cls, prefix=""):
    for name, f in C.field_kinds(cls).items():
        key = f"{prefix}.{name}" if prefix else name
        if f.kind == "section":
            yield from _leaves(f.item, key)
        else:
            yield key, f


def test_the_configuration_reference_is_up_to_date():
    from fugue_ppl.config_reference import markdown
    path = ROOT / "docs" / "configuration.md"
    if not path.exists():
        pytest.skip("docs/ is not next to the tests")
    if path.read_text(encoding="utf-8") != markdown():
        pytest.fail("docs/configuration.md differs from the settings types; regenerate it with "
                    "`python -m fugue_ppl.config_reference docs/configuration.md`",
                    pytrace=False)


def test_the_reference_lists_every_key():
    from fugue_ppl.config_reference import markdown
    text = markdown()
    rows = {line.split(" | ")[0][3:-1]: line.split(" | ") for line in text.splitlines()
            if line.startswith("| `")}
    keys = dict(_leaves(Config))
    assert set(keys) <= set(rows)
    for key, f in keys.items():
        row = rows[key]
        var = "FUGUE_" + key.upper().replace(".", "__")
        assert row[4] == (f"`{var}__<NAME>`" if f.kind == "mapping" else f"`{var}`"), key
        assert row[5].rstrip(" |"), key                                  # a description
    assert rows["breaker.failure_threshold"][1:4] == [
        "float", "`0.5`", "in [0, 1]; >= degraded_threshold"]
    assert rows["runtime.pool_max_size"][1:4] == [
        "int", "`64`", "in [1, 1048576]; >= pool_min_size"]
    assert rows["secrets.database_url"][1:3] == ["str or none (secret)", "`none`"]
    assert "| `development` | `log_level = \"DEBUG\"`, `runtime.max_inference_time = 30.0`, " \
           "`metrics.enabled = false`, `auth.anonymous = \"open\"` |" in text


def test_every_setting_declares_its_constraint_and_description():
    from fugue_ppl.checks import declaration
    seen = set()

    def walk(cls):
        if cls in seen:
            return
        seen.add(cls)
        for f in dataclasses.fields(cls):
            d = declaration(f)
            assert d["check"] is not None and d["doc"].strip(), (cls.__name__, f.name)
            if d["section"]:
                walk(C.field_kinds(cls)[f.name].item)
    walk(Config)
    walk(fp.serving.RunnerConfig)
    assert len(seen) == 22


def test_the_reference_script(tmp_path, capsys):
    from fugue_ppl import config_reference
    out = tmp_path / "configuration.md"
    assert config_reference.main([str(out)]) == 0
    assert out.read_text(encoding="utf-8") == config_reference.markdown()
    assert config_reference.main(["-"]) == 0
    assert capsys.readouterr().out == config_reference.markdown()
    assert config_reference.main([]) == 2
    assert capsys.readouterr().err == ("usage: python -m fugue_ppl.config_reference PATH "
                                       "(or - for stdout)\n")
