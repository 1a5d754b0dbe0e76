"""The columns of every DuckDB model, as users query them: name, DuckDB type, meaning.

Shown in the UI as each model's `dagster/column_schema`; a test holds them equal to the built
tables, so a model SQL change that forgets this page fails.
"""

DAY = ("date", "DATE", "Local day of the call (the partition day, in INFINITY_TIMEZONE)")
DGRP = ("dgrp", "BIGINT", "Dial-in group id")
DGRP_NAME = ("dgrp_name", "VARCHAR", "Dial-in group name")
ROW_ID = ("row_id", "BIGINT", "The call's rowId: unique, increasing as calls are inserted")
CALL_TIME = ("call_time", "TIMESTAMP WITH TIME ZONE", "When the call started")
CALL_STATE = ("call_state", "VARCHAR", "Hangup / call-progress state as the API sent it")
CALL_STAGE = ("call_stage", "VARCHAR", "Stage the call reached: bridge, ring, ivr, queue, ...")

MODEL_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "call_states": [
        DAY,
        DGRP,
        ("call_state", "VARCHAR", "Call state, trimmed and upper-cased; empty when blank"),
        ("category", "VARCHAR", "Category from the mapping; 'unmapped' or 'blank' otherwise"),
        ("is_failure", "BOOLEAN", "Whether the mapping counts this state as a failed call"),
        ("calls", "BIGINT", "Calls that ended in this state"),
    ],
    "call_fail_rates": [
        DAY,
        DGRP,
        ("dgrp_name", "VARCHAR", "Dial-in group name (of its latest call that day)"),
        ("total_calls", "BIGINT", "All calls, blank and unmapped states included"),
        ("failed_calls", "BIGINT", "Calls whose state the mapping counts as a failure"),
        ("unmapped_state_calls", "BIGINT", "Calls with a blank state or one not in the mapping"),
        ("fail_rate", "DOUBLE", "failed_calls / total_calls"),
    ],
    "cid_capture_gaps": [
        DAY,
        DGRP,
        ("calls_with_vid", "BIGINT", "Calls with an Infinity visitor id"),
        ("missing_cid_calls", "BIGINT", "Calls with a visitor id but no Google client id"),
        ("gap_rate", "DOUBLE", "missing_cid_calls / calls_with_vid; NULL when no call had a vid"),
    ],
    "call_log": [
        DAY,
        ROW_ID,
        CALL_TIME,
        DGRP,
        DGRP_NAME,
        ("ch", "BIGINT", "Marketing channel id"),
        ("channel", "VARCHAR", "Marketing channel name"),
        ("channel_type", "VARCHAR", "Marketing channel type (ppc, seo, direct, ref, ...)"),
        ("caller_number", "VARCHAR", "Caller id"),
        ("dialled_number", "VARCHAR", "Tracking number that was dialled"),
        ("destination_number", "VARCHAR", "Where the call was forwarded"),
        ("ring_seconds", "BIGINT", "Seconds the caller's leg rang"),
        ("call_seconds", "BIGINT", "Seconds the caller's leg was answered"),
        ("talk_seconds", "BIGINT", "Seconds caller and destination were connected"),
        CALL_STATE,
        CALL_STAGE,
        ("goal_title", "VARCHAR", "Title of the goal the call reached"),
        ("has_recording", "BOOLEAN", "Whether the call was recorded"),
    ],
    "call_state_report": [
        DAY,
        ROW_ID,
        CALL_TIME,
        DGRP,
        DGRP_NAME,
        CALL_STATE,
        ("state_key", "VARCHAR", "The state trimmed and upper-cased (NULL when blank)"),
        ("category", "VARCHAR", "Category from the mapping; 'unmapped' or 'blank' otherwise"),
        ("is_failure", "BOOLEAN", "Whether the mapping counts this state as a failed call"),
        ("is_unmapped_state", "BOOLEAN", "Whether the state is blank or not in the mapping"),
        ("description", "VARCHAR", "What the state means, from the mapping"),
        CALL_STAGE,
    ],
    "google_cid_report": [
        DAY,
        ROW_ID,
        CALL_TIME,
        DGRP,
        DGRP_NAME,
        ("visitor_id", "VARCHAR", "Infinity visitor id (every row has one)"),
        ("client_id_sent", "VARCHAR", "Google client id as the API sent it"),
        ("client_id", "VARCHAR", "Client id cleaned: NULL when blank or a placeholder; from _ga"),
        ("cid_missing", "BOOLEAN", "No usable client id: a capture gap"),
        ("href", "VARCHAR", "Page the visitor was on"),
    ],
    "goals_by_channel": [
        ("date", "DATE", "Local day of the goals (the partition day)"),
        ("ch", "BIGINT", "Marketing channel id"),
        ("channel", "VARCHAR", "Marketing channel name"),
        ("channel_type", "VARCHAR", "Marketing channel type (ppc, seo, direct, ref, ...)"),
        ("goal", "BIGINT", "Goal id"),
        ("goal_title", "VARCHAR", "Goal title"),
        ("goals", "BIGINT", "Goals reached"),
        ("call_goals", "BIGINT", "Of those, goals that were calls"),
        ("visitors", "BIGINT", "Distinct visitors who reached the goal"),
    ],
    "goals_by_segment": [
        ("date", "DATE", "Local day of the goals (the partition day)"),
        ("segment", "BIGINT", "Segment id"),
        ("goal", "BIGINT", "Goal id"),
        ("goal_title", "VARCHAR", "Goal title"),
        ("goals", "BIGINT", "Goals reached"),
        ("call_goals", "BIGINT", "Of those, goals that were calls"),
        ("visitors", "BIGINT", "Distinct visitors who reached the goal"),
    ],
}
