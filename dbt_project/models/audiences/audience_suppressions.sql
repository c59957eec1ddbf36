-- Every suppressed customer with every reason, for activation tools and audits (see prep_audience_suppressions).
select customer_id, reason, {{ siyu.snapshot_date() }} as computed_on
from {{ ref('prep_audience_suppressions') }}
