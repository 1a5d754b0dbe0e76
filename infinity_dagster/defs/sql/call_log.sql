-- The call log: one row per call over every imported day, with the columns of Infinity's basic
-- call report. A view over the Parquet files (no copy): it is always as current as they are.
CREATE OR REPLACE VIEW call_log AS
SELECT
    date,
    "rowId" AS row_id,
    "triggerDatetime" AS call_time,
    dgrp,
    "dgrpName" AS dgrp_name,
    ch,
    "chName" AS channel,
    "chType" AS channel_type,
    "srcPhoneNumber" AS caller_number,
    "dialledPhoneNumber" AS dialled_number,
    "destPhoneNumber" AS destination_number,
    "ringTime" AS ring_seconds,
    "callDuration" AS call_seconds,
    "bridgeDuration" AS talk_seconds,
    "callState" AS call_state,
    "callStage" AS call_stage,
    "goalTitle" AS goal_title,
    trim(coalesce(rec, '')) <> '' AS has_recording
FROM calls;
