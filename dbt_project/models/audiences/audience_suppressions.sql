-- Every suppressed customer with every reason, for activation tools and audits (see int_audience_suppressions).
select customer_id, reason, {{ siyu.snapshot_date() }} as computed_on
from {{ ref('int_audience_suppressions') }}
