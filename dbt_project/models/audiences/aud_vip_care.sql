-- Audience vip_care: the rule is in int_audience_candidates; suppression and priorities in
-- audience_assignments.
{{ siyu.audience_table() }}
