-- One row per day, segment and goal: how many goals were reached, how many of them were calls,
-- and by how many visitors.
CREATE OR REPLACE TABLE goals_by_segment AS
SELECT
    date,
    segment,
    goal,
    arg_max("goalTitle", "rowId") AS goal_title,
    count(*) AS goals,
    count(*) FILTER (WHERE trim(coalesce("dialledPhoneNumber", '')) <> '') AS call_goals,
    count(DISTINCT NULLIF(trim(coalesce(vid, '')), '')) AS visitors
FROM goals
GROUP BY date, segment, goal
ORDER BY date, segment, goal;
