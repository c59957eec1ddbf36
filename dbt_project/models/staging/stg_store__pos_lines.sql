with

source as (
    select * from {{ siyu.raw_source('store', 'pos_lines') }}
),

ranked as (
    select
        *,
        row_number() over (partition by receipt_no, line_no order by dt desc) as pull_rank
    from source
),

final as (
    select
        receipt_no as receipt_id,
        cast(line_no as integer) as line_number,
        store_id,
        cast(sold_at as timestamp) as sold_at,
        nullif(card_no, '') as member_card,
        {{ siyu.normalize_phone('phone') }} as phone_e164,
        nullif(salesperson, '') as salesperson_userid,
        sku,
        category,
        cast(qty as integer) as quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(amount as decimal(18, 2)) as amount,
        file as source_file
    from ranked
    where pull_rank = 1
)

select * from final
