"""Typed options: camelCase on the wire, invalid values reported and replaced by defaults."""

from editseq.options import Options, option_docs, parse_options


def test_valid_options_apply_in_either_case():
    options, errors = parse_options({"maxTokens": 64, "lint_gate": False, "model": "base"})
    assert errors == []
    assert (options.max_tokens, options.lint_gate, options.model) == (64, False, "base")


def test_invalid_values_are_reported_and_defaults_kept():
    options, errors = parse_options({"maxTokens": -3, "temperature": "hot", "samples": 2.5,
                                     "lintGate": "yes", "bogus": 1, "threads": 2})
    defaults = Options()
    assert options.max_tokens == defaults.max_tokens
    assert options.temperature == defaults.temperature
    assert options.samples == defaults.samples
    assert options.lint_gate == defaults.lint_gate
    assert options.threads == 2  # the valid one still applies
    assert len(errors) == 5
    assert any("maxTokens" in e and "outside" in e for e in errors)
    assert any("bogus" in e for e in errors)


def test_non_object_options_fall_back_to_defaults():
    options, errors = parse_options(["not", "an", "object"])
    assert options == Options() and len(errors) == 1


def test_every_option_is_documented():
    rows = option_docs()
    assert {r["name"] for r in rows} >= {"maxTokens", "lintGate", "gpuLayers", "model", "adapter"}
    assert all(r["doc"] for r in rows)


def test_an_option_with_choices_refuses_others():
    options, errors = parse_options({"functionsModel": "gpt"})
    assert options.functions_model == "default"
    assert errors == ["option 'functionsModel': expected one of 'default', 'coder', got 'gpt'; using 'default'"]
    assert parse_options({"functionsModel": "coder"})[0].functions_model == "coder"
