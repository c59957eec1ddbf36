-- Audience vip_care: its registry row is in seeds/audience_registry.csv, its rule in
-- prep_audience_candidates, suppression and priorities in audience_assignments.
{{ siyu.audience_table() }}
