-- Each call with its state, the state's category and description from the editable mapping.
-- Blank and unmapped states are kept (category 'blank' / 'unmapped', never a failure).
CREATE OR REPLACE VIEW call_state_report AS
SELECT
    c.date,
    c."rowId" AS row_id,
    c."triggerDatetime" AS call_time,
    c.dgrp,
    c."dgrpName" AS dgrp_name,
    c."callState" AS call_state,
    c.state_key,
    c.state_category AS category,
    c.is_failure,
    c.is_unmapped_state,
    m.description,
    c."callStage" AS call_stage
FROM calls_clean AS c
LEFT JOIN call_state_mapping AS m ON m.call_state = c.state_key;
