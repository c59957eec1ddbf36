-- Audience win_back_important: the rule is in int_audience_candidates; suppression and priorities in
-- audience_assignments.
select
    customer_id, audience, reason, channel, guide_userid, external_userid, chat_id, priority, computed_on, computed_at
from {{ ref('audience_assignments') }}
where audience = 'win_back_important'
