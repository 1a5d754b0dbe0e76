-- One row per day, dial-in group and call state: how calls ended.
CREATE OR REPLACE TABLE call_states AS
SELECT
    date,
    dgrp,
    coalesce(state_key, '') AS call_state,
    category,
    is_failure,
    CAST(sum(calls) AS BIGINT) AS calls
FROM call_facts
GROUP BY ALL
ORDER BY date, dgrp, call_state;
