"""The pytest plugin, in pytest sessions of their own (pytester): the fixtures, their options,
isolation between tests, xdist, and replay scripts as tests."""

import json

PASSING = {
    "name": "the default agent echoes",
    "setup": {"user_number": "+15550001111", "agent_number": "+15550002222"},
    "steps": [{"user": "bye", "replies": ["Thanks for chatting. Goodbye!"]}],
}
FAILING = {
    "name": "a reply that never comes",
    "setup": {"user_number": "+15550001111", "agent_number": "+15550002222"},
    "steps": [{"user": "hi", "replies": ["something else entirely"]}],
}


def test_bland_is_reset_between_tests(pytester):
    pytester.makepyfile(
        """
        def test_one(bland):
            bland.inbound(user="+15550001111", agent="+15550002222", text="first")
            assert len(bland.requests()) == 1

        def test_two(bland):
            assert bland.requests() == []
            bland.inbound(user="+15550001111", agent="+15550002222", text="second")
            assert len(bland.requests()) == 1

        def test_session_is_shared(bland_sim, bland):
            assert bland_sim is bland
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_flags_come_from_the_command_line_and_the_ini_file(pytester):
    pytester.makeini(
        """
        [pytest]
        bland_sim_args =
            --start-time
            2030-05-05T10:00:00Z
        """
    )
    pytester.makepyfile(
        """
        def test_clock_and_seed(bland):
            assert bland.advance(0)["now"] == "2030-05-05T10:00:00.000Z"
            assert bland.state()["simulator"]["seed"] == "77"
        """
    )
    pytester.runpytest("--bland-sim-arg=--seed=77").assert_outcomes(passed=1)


def test_a_running_simulator_is_used_with_its_url(pytester):
    from bland_sms_sim import Simulator

    with Simulator(manual_clock=True, seed=5) as running:
        pytester.makepyfile(
            f"""
            def test_uses_it(bland_sim):
                assert bland_sim.base_url == "{running.base_url}"
                bland_sim.inbound(user="+15550001111", agent="+15550002222", text="hi")
            """
        )
        pytester.runpytest(f"--bland-sim-url={running.base_url}").assert_outcomes(passed=1)
        assert running.requests()


def test_each_xdist_worker_has_its_own_simulator(pytester, tmp_path):
    urls = tmp_path / "urls"
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.parametrize("i", range(6))
        def test_alone(bland, i):
            bland.inbound(user="+1555000%04d" % i, agent="+15550002222", text="hi")
            assert len(bland.requests()) == 1
            with open({str(urls)!r}, "a") as f:
                f.write(bland.base_url + "\\n")
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=6)
    assert len(set(urls.read_text().split())) == 2


def test_replay_scripts_are_tests_named_by_their_name(pytester):
    pytester.makefile(".replay.json", good=json.dumps(PASSING), bad=json.dumps(FAILING))
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*a reply that never comes FAILED*",
            "*the default agent echoes PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(["*step 1*failed*", "*something else entirely*"])


def test_replay_scripts_get_the_scenarios_the_flags_give(pytester):
    scenario = {"version": 1, "name": "echo", "default": True, "start_node": "a",
                "nodes": {"a": {"rules": [{"when": "any", "reply": "echo: {{message}}"}]}}}
    pytester.makefile(".json", echo=json.dumps(scenario))
    script = {"name": "echoes", "setup": {"user_number": "+15550001111", "agent_number": "+15550002222"},
              "steps": [{"user": "ping", "replies": ["echo: ping"]}]}
    pytester.makefile(".replay.json", echoes=json.dumps(script))
    pytester.runpytest("--bland-sim-arg=--scenarios=echo.json").assert_outcomes(passed=1)


def test_replay_scripts_run_against_the_simulator_the_url_names(pytester):
    from bland_sms_sim import Simulator

    pytester.makefile(".replay.json", good=json.dumps(PASSING), bad=json.dumps(FAILING))
    with Simulator(manual_clock=True) as running:
        result = pytester.runpytest(f"--bland-sim-url={running.base_url}", "-v")
        result.assert_outcomes(passed=1, failed=1)
        # The scripts ran there: its journal holds the last one's text.
        texts = [r["body"]["message"] for r in running.requests() if r["path"] == "/_sim/inbound"]
        assert texts[-1] in ("hi", "bye")
        assert len(texts) == 1
