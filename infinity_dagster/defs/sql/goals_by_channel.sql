-- One row per day, marketing channel and goal: how many goals were reached, how many of them
-- were calls (a goal that was not a call has the call fields empty), and by how many visitors.
CREATE OR REPLACE TABLE goals_by_channel AS
SELECT
    date,
    ch,
    arg_max("chName", "rowId") AS channel,
    arg_max("chType", "rowId") AS channel_type,
    goal,
    arg_max("goalTitle", "rowId") AS goal_title,
    count(*) AS goals,
    count(*) FILTER (WHERE trim(coalesce("dialledPhoneNumber", '')) <> '') AS call_goals,
    count(DISTINCT NULLIF(trim(coalesce(vid, '')), '')) AS visitors
FROM goals
GROUP BY date, ch, goal
ORDER BY date, ch, goal;
