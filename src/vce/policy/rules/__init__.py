"""The policy rules, one per module; :data:`RULES` lists them in the order they run.

Each module has ``RULE`` (its id, as in violations), ``SUMMARY`` (what it stops) and one or
more of ``check_sql`` / ``check_tree`` / ``check_facts``. Rules that run on the raw text or the
parsed tree stop the analysis when they fire (a query that reads files is not worth
qualifying); rules on facts all run, so a researcher sees every problem at once.
"""

from __future__ import annotations

from types import ModuleType

from vce.policy.rules import (
    correlated_subquery,
    count_arithmetic,
    cte_shadows_table,
    failing_cast,
    free_text_group_by,
    free_text_output,
    function_not_allowed,
    grouping_sets,
    identifier_comparison,
    identifier_group_by,
    identifier_output,
    join_kind,
    lateral,
    limit_offset,
    measure_group_by,
    measure_output,
    parse,
    protected_aggregate,
    quantile_level,
    regression_dof,
    restricted_expression,
    row_export_linked,
    row_export_minors,
    row_level_output,
    select_only,
    set_operation,
    single_statement,
    single_value_aggregate,
    supported_syntax,
    table_not_granted,
    table_source,
    too_deep,
    too_large,
    ungrouped_column,
    unknown_column,
    unknown_table,
    whole_row,
    window_function,
)

RULES: tuple[ModuleType, ...] = (
    too_large,
    too_deep,
    parse,
    single_statement,
    select_only,
    supported_syntax,
    table_source,
    lateral,
    join_kind,
    cte_shadows_table,
    unknown_table,
    table_not_granted,
    whole_row,
    limit_offset,
    window_function,
    function_not_allowed,
    unknown_column,
    identifier_output,
    identifier_group_by,
    identifier_comparison,
    failing_cast,
    protected_aggregate,
    single_value_aggregate,
    quantile_level,
    count_arithmetic,
    restricted_expression,
    regression_dof,
    free_text_output,
    free_text_group_by,
    measure_output,
    measure_group_by,
    ungrouped_column,
    correlated_subquery,
    set_operation,
    grouping_sets,
    row_level_output,
    row_export_minors,
    row_export_linked,
)

EXTRA_RULE_IDS = {"internal-error": "the checker failed on this query; it is denied"}
"""Rule ids raised by the analysis itself rather than by a rule module."""


def rule_ids() -> list[str]:
    """Every rule id the engine can report."""
    return [m.RULE for m in RULES] + list(EXTRA_RULE_IDS)
