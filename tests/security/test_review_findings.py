"""The outside review's findings (issue 11), each with the attack or regression tests that refuse it.

The OWASP table (test_owasp.py) holds one test a risk; this table holds the review's nineteen
findings, each named to the OWASP risk it belongs to and to the tests that prove it closed. Every
test named here failed on the commit the review was made against and passes now. The test below
keeps the table honest: each named test exists, and no finding is left without one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# finding: (OWASP API risk, what was found, the tests that refuse it)
FINDINGS: dict[int, tuple[str, str, list[str]]] = {
    1: (
        "API1",
        "the accused reads the allegation through export, counts and the audit log",
        [
            "tests/incidents/test_visibility_paths.py::test_the_json_export_leaves_it_out",
            "tests/incidents/test_visibility_paths.py::test_the_csv_export_leaves_it_out",
            "tests/incidents/test_visibility_paths.py::test_the_counts_do_not_move",
            "tests/incidents/test_visibility_paths.py::test_the_audit_log_leaves_out_its_trail",
            "tests/incidents/test_visibility_paths.py::test_a_governor_named_as_subject_is_not_counted_to_them",
            "tests/incidents/test_visibility_paths.py::test_later_consumers_ask_the_same_rule",
            "tests/incidents/test_gateway_incidents.py::test_the_accused_head_sees_nothing_of_the_allegation_on_any_path",
        ],
    ),
    2: (
        "API5",
        "a head mints a second head teacher (or a reporting client) to read around the rule",
        [
            "tests/identity/test_accounts.py::test_a_head_cannot_mint_a_second_head_or_safeguarding_lead",
            "tests/identity/test_accounts.py::test_one_staff_account_per_person",
            "tests/identity/test_clients.py::test_a_head_cannot_mint_a_reporting_client_to_read_around_the_incident_rule",
        ],
    ),
    3: (
        "API3",
        "small counts undone by totals, overlapping periods and groupings",
        [
            "tests/incidents/test_stats_disclosure.py::test_a_day_query_cannot_name_the_category_of_that_days_only_incident",
            "tests/incidents/test_stats_disclosure.py::test_a_longer_period_minus_a_shorter_one_tells_nothing",
            "tests/incidents/test_stats_disclosure.py::test_every_published_count_is_a_sum_of_rounded_cells_of_five_or_more",
        ],
    ),
    4: (
        "API4",
        "one school behind one address is refused its morning sign-ins",
        [
            "tests/gateway/test_signin_limits.py::test_sixty_staff_behind_one_address_all_sign_in",
            "tests/gateway/test_signin_limits.py::test_eleven_guesses_from_eleven_addresses_lock_that_account_only",
            "tests/identity/test_signin.py::test_a_school_behind_one_address_signs_in_with_its_mistypes",
            "tests/gateway/test_rules.py::test_the_token_endpoint_limit_is_a_flood_guard_by_default",
        ],
    ),
    5: (
        "API2",
        "every sign-in seems to come from the gateway; a client can forge its address",
        [
            "tests/kit/test_addresses.py::test_a_sign_in_is_audited_with_the_address_a_trusted_proxy_forwarded",
            "tests/kit/test_addresses.py::test_a_client_spoofing_x_forwarded_for_is_audited_with_its_own_address",
            "tests/kit/test_addresses.py::test_the_client_is_the_right_most_address_no_trusted_proxy_added",
            "tests/gateway/test_forwarding.py::test_behind_a_trusted_proxy_the_service_gets_the_client_the_proxy_named",
            "tests/test_deployment.py::test_services_believe_forwarded_addresses_from_the_gateway_only",
        ],
    ),
    6: (
        "API2",
        "concurrent guesses overtake the throttle; replicas throttle apart",
        [
            "tests/identity/test_replicas.py::test_a_burst_of_guesses_across_replicas_gets_ten_verified",
            "tests/identity/test_replicas.py::test_a_token_revoked_through_one_replica_is_refused_by_the_other",
        ],
    ),
    7: (
        "API2",
        "/me/password is a password oracle; /me/totp moves the second factor with the password alone",
        [
            "tests/identity/test_signin.py::test_every_password_check_passes_the_same_throttle",
            "tests/identity/test_signin.py::test_a_stolen_token_and_password_cannot_move_the_second_factor",
            "tests/identity/test_signin.py::test_the_platform_administrator_resets_a_lost_phone",
        ],
    ),
    8: (
        "API4",
        "/oauth/revoke unlimited, an audit row per bad request",
        [
            "tests/identity/test_signin.py::test_revoke_floods_are_limited_and_audited_once_per_window",
            "tests/gateway/test_rules.py::test_the_revocation_endpoint_is_limited_per_source_address_too",
        ],
    ),
    9: (
        "API4",
        "slow uploads hold every connection to a service",
        [
            "tests/gateway/test_real_identity.py::test_256_slow_token_uploads_do_not_block_a_sign_in",
            "tests/gateway/test_slow_clients.py::test_256_slow_token_uploads_leave_sign_in_to_everyone_else",
            "tests/gateway/test_slow_clients.py::test_a_body_that_stops_arriving_is_408_and_holds_no_connection",
            "tests/gateway/test_slow_clients.py::test_a_body_must_be_complete_within_the_body_timeout",
            "tests/gateway/test_slow_clients.py::test_one_client_holds_at_most_its_share_of_a_services_connections",
            "tests/gateway/test_slow_clients.py::test_a_client_that_stops_reading_a_download_is_cut_off",
        ],
    ),
    10: (
        "API4",
        "a half-open probe never settled leaves the breaker open for good",
        [
            "tests/gateway/test_breaker_probes.py::test_every_way_a_probe_ends_settles_it",
            "tests/gateway/test_breaker_probes.py::test_a_probe_left_by_an_exception_lets_the_next_request_probe",
        ],
    ),
    11: (
        "API4",
        "a tiny PNG declaring 49 megapixels is decoded; a damaged one is a 500",
        [
            "tests/media_consent/test_scans.py::test_a_tiny_png_declaring_49_megapixels_is_refused_before_decoding",
            "tests/media_consent/test_scans.py::test_an_animated_png_is_refused_by_its_declared_frames",
            "tests/media_consent/test_scans.py::test_a_damaged_image_is_422_never_500",
            "tests/media_consent/test_scans.py::test_decoding_shares_one_budget_and_a_scan_that_cannot_wait_is_503",
            "tests/media_consent/test_scan_fuzz.py::test_no_image_makes_the_scan_fail",
        ],
    ),
    12: (
        "API3",
        "names outside a-z pass the filename and caption rules",
        [
            "tests/media_consent/test_names.py::test_a_name_in_any_script_in_the_filename_is_denied",
            "tests/media_consent/test_names.py::test_a_full_name_in_any_script_in_a_caption_is_denied",
            "tests/media_consent/test_names.py::test_what_the_check_cannot_read_is_denied_with_its_reason",
            "tests/media_consent/test_scans.py::test_a_pupils_name_in_any_script_is_found_in_the_metadata",
        ],
    ),
    13: (
        "API10",
        "a person just written in identity is 'not known' to the other services for a follow interval",
        [
            "tests/e2e/test_read_your_writes.py::test_a_new_pupil_and_carer_are_used_at_once",
            "tests/e2e/test_read_your_writes.py::test_a_leaver_is_seen_at_once",
            "tests/e2e/test_read_your_writes.py::test_with_identity_down_unknown_is_503_and_the_check_denies",
            "tests/kit/test_replica.py::test_a_burst_of_misses_shares_one_pull",
            "tests/kit/test_replica.py::test_a_miss_right_after_a_pull_pulls_no_more",
        ],
    ),
    14: (
        "API8",
        "Link and Location name the service's internal address",
        [
            "tests/e2e/test_public_urls.py::test_a_paged_lists_link_is_on_the_gateway_never_on_a_service",
            "tests/e2e/test_public_urls.py::test_a_created_incidents_location_is_on_the_gateway",
        ],
    ),
    15: (
        "API8",
        "compose publishes services, the replica sync takes no credential, docs and metrics open",
        [
            "tests/test_deployment.py::test_only_the_gateway_is_published",
            "tests/kit/test_operations_routes.py::test_the_replica_sync_refuses_anyone_without_an_operations_token",
            "tests/kit/test_operations_routes.py::test_a_service_serves_no_swagger_ui_and_keeps_the_schema_for_the_gateway",
            "tests/kit/test_addresses.py::test_metrics_answer_only_the_configured_scrapers",
        ],
    ),
    16: (
        "API8",
        "the run command ignores the operator's BOOTSTRAP_ADMIN_* values",
        [
            "tests/e2e/test_bootstrap_admin.py::test_the_run_command_creates_the_operators_administrator",
            "tests/e2e/test_bootstrap_admin.py::test_a_bad_bootstrap_value_stops_the_run_command",
        ],
    ),
    17: (
        "API9",
        "the merged OpenAPI promises query strings and cursors the gateway refuses",
        [
            "tests/contract/test_fuzz.py::test_the_gateway_takes_every_query_string_the_schema_allows",
            "tests/contract/test_fuzz.py::test_the_longest_audit_search_the_schema_allows_is_answered",
            "tests/contract/test_fuzz.py::test_the_api_keeps_its_contract",
            "tests/contract/test_fuzz.py::test_every_role_gets_the_contract",
            "tests/kit/test_mechanisms.py::test_every_cursor_the_schema_allows_is_a_place_not_a_422",
        ],
    ),
    18: (
        "API9",
        "the integration guides do not run as written",
        [
            "tests/test_docs.py::test_every_doc_block_is_run_or_excused",
            "tests/test_docs.py::test_the_doc_runs_as_written",
            "tests/test_docs.py::test_the_la_loop_renews_its_token_before_it_expires",
        ],
    ),
    19: (
        "API8",
        "engines log bound parameters (names, summaries) on unexpected errors",
        ["tests/kit/test_mechanisms.py::test_a_failing_statement_logs_no_bound_values"],
    ),
}


def _defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    }


def test_every_finding_of_the_review_names_tests_that_exist() -> None:
    assert sorted(FINDINGS) == list(range(1, 20)), "every finding of the review has its row"
    missing = []
    for number, (risk, _what, tests) in FINDINGS.items():
        assert risk.startswith("API") and tests, number
        for node in tests:
            file, name = node.split("::")
            path = ROOT / file
            if not path.exists() or name not in _defined_tests(path):
                missing.append(f"finding {number}: {node}")
    assert not missing, missing
