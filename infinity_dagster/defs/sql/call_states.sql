-- One row per day, dial-in group and call state: how calls ended.
CREATE OR REPLACE TABLE call_states AS
SELECT
    date,
    dgrp,
    coalesce(state_key, '') AS call_state,
    state_category AS category,
    is_failure,
    count(*) AS calls
FROM calls_clean
GROUP BY ALL
ORDER BY date, dgrp, call_state;
