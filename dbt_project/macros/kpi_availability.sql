{#-
    Which KPI measures need which sources (issue 15: a brand chooses its sources). One entry per KPI table
    and group of measures: `needs` lists the sources any one of which gives the measures (all of them with
    `needs_all`: the session archive is a store drop of WeCom's messages); `reason` says
    what is missing when the brand has none of them. Read by the kpi_availability mart (one row per entry)
    and by each KPI table's unavailable_reason column. A brand's sources are var `sources`, set by
    siyu.config (SIYU_SOURCES). docs/decisions.md "Brand shapes: absent sources (issue 15)".
    Sources here are the brand's drops (SIYU_SOURCES: wecom, shop, store), not dbt source names: the
    session archive (dbt source wecom.messages) and the shop's visit tracking export (shop.visits) arrive
    with the store drops (lake store/messages, store/shop_visits), so measures needing them need 'store'.
-#}
{% macro kpi_requirements() %}
    {{ return([
        {'kpi_model': 'kpi_gmv_tree', 'measures': 'gmv, orders, buyers, aov, purchase_frequency', 'needs': ['shop', 'store'],
         'reason': 'no shop nor store source: there are no orders, GMV cannot be computed'},
        {'kpi_model': 'kpi_gmv_tree', 'measures': 'online channel', 'needs': ['shop'],
         'reason': "no shop source: online (Youzan) orders are not counted, channel 'all' is store sales only"},
        {'kpi_model': 'kpi_gmv_tree', 'measures': 'store channel', 'needs': ['store'],
         'reason': "no store source: store (POS) sales are not counted, channel 'all' is online sales only"},
        {'kpi_model': 'kpi_gmv_tree', 'measures': 'uv, conversion', 'needs': ['shop', 'store'], 'needs_all': true,
         'reason': "no shop and store sources: uv and conversion need the shop's visit tracking export (a store drop)"},
        {'kpi_model': 'kpi_gmv_new_returning', 'measures': 'gmv, new and returning buyers', 'needs': ['shop', 'store'],
         'reason': 'no shop nor store source: there are no orders, GMV cannot be computed'},
        {'kpi_model': 'kpi_gmv_new_returning', 'measures': 'online channel', 'needs': ['shop'],
         'reason': "no shop source: online (Youzan) orders are not counted, channel 'all' is store sales only"},
        {'kpi_model': 'kpi_gmv_new_returning', 'measures': 'store channel', 'needs': ['store'],
         'reason': "no store source: store (POS) sales are not counted, channel 'all' is online sales only"},
        {'kpi_model': 'kpi_community', 'measures': 'all', 'needs': ['wecom'],
         'reason': 'no WeCom source: community KPIs need customer groups and their members'},
        {'kpi_model': 'kpi_community', 'measures': 'speakers, activity_rate, messages, active_days, grade', 'needs': ['store'],
         'reason': 'no store source: group activity needs the WeCom session archive (a store drop)'},
        {'kpi_model': 'kpi_community', 'measures': 'visitors, paying_visitors, visitor_pay_conversion, grade', 'needs': ['shop', 'store'], 'needs_all': true,
         'reason': "no shop and store sources: group visitors need the shop's visit tracking export (a store drop), so visitor pay conversion is unavailable and grades are on activity only (grade_basis activity_only)"},
        {'kpi_model': 'kpi_community', 'measures': 'buyers, orders, gmv, aov, repurchase_rate, paying_visitors', 'needs': ['shop'],
         'reason': 'no shop source: orders placed from a group are Youzan orders'},
        {'kpi_model': 'kpi_community_summary', 'measures': 'all', 'needs': ['wecom'],
         'reason': 'no WeCom source: community KPIs need customer groups and their members'},
        {'kpi_model': 'kpi_community_summary', 'measures': 'speakers, grades', 'needs': ['store'],
         'reason': 'no store source: group activity needs the WeCom session archive (a store drop)'},
        {'kpi_model': 'kpi_community_summary', 'measures': 'gmv', 'needs': ['shop'],
         'reason': 'no shop source: orders placed from a group are Youzan orders'},
        {'kpi_model': 'kpi_guides', 'measures': 'all', 'needs': ['wecom', 'store'],
         'reason': 'no WeCom nor store source: no guide is named (friendships, groups, till salespeople)'},
        {'kpi_model': 'kpi_guides', 'measures': 'customers, customers_per_guide, inherited_customers', 'needs': ['wecom'],
         'reason': "no WeCom source: a guide's customers are their WeCom friendships"},
        {'kpi_model': 'kpi_guides', 'measures': 'active_guides, login_rate', 'needs': ['wecom', 'store'], 'needs_all': true,
         'reason': 'no WeCom and store sources: guide activity needs the WeCom session archive (a store drop)'},
        {'kpi_model': 'kpi_guides', 'measures': 'sharing_guides, share_rate, ordering_guides, order_rate', 'needs': ['shop'],
         'reason': 'no shop source: orders through share links are Youzan orders, so share_rate counts visits only and order_rate till sales only'},
        {'kpi_model': 'kpi_channels', 'measures': 'all', 'needs': ['wecom'],
         'reason': 'no WeCom source: the channel funnel needs channel QR codes and friendships'},
        {'kpi_model': 'kpi_channels', 'measures': 'first_orders_30d, conversion_30d', 'needs': ['shop', 'store'],
         'reason': 'no shop nor store source: there are no orders to convert to'},
        {'kpi_model': 'kpi_stores', 'measures': 'all', 'needs': ['store'],
         'reason': 'no store source: store KPIs need POS receipts and member files'},
        {'kpi_model': 'kpi_store_categories', 'measures': 'all', 'needs': ['store'],
         'reason': 'no store source: store KPIs need POS receipts'},
        {'kpi_model': 'kpi_triangle', 'measures': 'rung_3_reachable, rung_4_marketable, rung_5_serviceable, reach_capability, ownership_power, ownership_score, triangle_area', 'needs': ['wecom'],
         'reason': 'no WeCom source: reachable, marketable and serviceable need friendships or groups, so ownership is understated'},
        {'kpi_model': 'kpi_triangle', 'measures': 'buyers, repurchase_rate, ltv_per_customer, value_index, value_score, triangle_area', 'needs': ['shop', 'store'],
         'reason': 'no shop nor store source: there are no orders, customer value cannot be computed'},
        {'kpi_model': 'kpi_triangle', 'measures': 'referred_customers, referrals_per_active, inviters, inviter_share, referral_index, referral_score, triangle_area', 'needs': ['shop', 'wecom'],
         'reason': 'no shop nor WeCom source: referrals come from share links (shop) and fission posters (WeCom groups)'},
    ]) }}
{% endmacro %}

{#- The reasons a KPI table's measures cannot all be computed for the brand's sources, as a SQL string
    literal (null when nothing is missing): the value of the table's unavailable_reason column. -#}
{#- True when the brand's sources (var sources) meet one requirement of kpi_requirements(). -#}
{% macro kpi_requirement_met(requirement) %}
    {%- set present = requirement.needs | select('in', var('sources')) | list -%}
    {{- return(present | length == requirement.needs | length if requirement.get('needs_all') else present | length > 0) -}}
{% endmacro %}

{% macro kpi_unavailable_reason(kpi_model) %}
    {%- set reasons = [] -%}
    {%- for requirement in siyu.kpi_requirements() if requirement.kpi_model == kpi_model -%}
        {%- if not siyu.kpi_requirement_met(requirement) -%}
            {%- do reasons.append(requirement.reason) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if reasons -%}
        '{{ reasons | join("; ") | replace("'", "''") }}'
    {%- else -%}
        cast(null as {{ dbt.type_string() }})
    {%- endif -%}
{% endmacro %}
