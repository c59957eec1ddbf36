// The analyst report's charts: every chart is drawn from the tables embedded in #report-data, filtered
// by the month and store chosen at the top (and, for the trends, a measure and a grain). Plotly draws
// SVG with text, so labels use the viewer's fonts. Each chart's table downloads as CSV with a BOM.
"use strict";

const REPORT = JSON.parse(document.getElementById("report-data").textContent);
const FONT = 'system-ui, "Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", "Source Han Sans SC", sans-serif';
const COLOURS = ["#2f6f9f", "#e07b39", "#4c9a5b", "#b5475b", "#7d62a8", "#9c8d5b", "#5aa7a7", "#8c8c8c", "#c4a000"];
const GRADE_COLOURS = { S: "#1b5e20", A: "#4c9a5b", B: "#9ccc65", C: "#e0b339", D: "#e07b39", ungraded: "#bdbdbd" };
const ALL = "all";

// ---- tables -------------------------------------------------------------------------------------
function rowsOf(name) {
  const data = REPORT.tables[name];
  if (!data) return null;
  return data.rows.map((row) => Object.fromEntries(data.columns.map((column, i) => [column, row[i]])));
}
const TABLES = Object.fromEntries(Object.keys(REPORT.tables).map((name) => [name, rowsOf(name)]));

function storeName(store) {
  if (store === ALL) return "全部门店 All stores";
  if (store === "unknown") return "未知门店 store unknown";
  return (REPORT.names.stores || {})[store] || store;
}
function guideName(guide) {
  return (REPORT.names.guides || {})[guide] || guide;
}
const pct = (value) => (value == null ? "–" : `${(100 * value).toFixed(1)}%`);
const num = (value, digits = 0) =>
  value == null ? "–" : Number(value).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const monthEnd = (month) => {
  const [year, m] = month.split("-").map(Number);
  return new Date(Date.UTC(year, m, 0)).toISOString().slice(0, 10);
};

function baseLayout(extra) {
  return Object.assign(
    {
      font: { family: FONT, size: 13, color: "#222" },
      margin: { t: 40, r: 20, b: 40, l: 60 },
      legend: LEGEND,
      hoverlabel: { font: { family: FONT } },
      paper_bgcolor: "#fff",
      plot_bgcolor: "#fff",
      height: 420,
    },
    extra,
  );
}
// Legends sit at the foot of the figure (container coordinates), below the axes and their titles.
const LEGEND = { orientation: "h", x: 0, xanchor: "left", xref: "container", y: 0, yanchor: "bottom", yref: "container", traceorder: "normal" };
const axis = (title, extra) => Object.assign({ title: { text: title }, automargin: true, gridcolor: "#eee", zeroline: false }, extra);

// The table a chart hands over as CSV: a header line of labels and the rows drawn.
function csvTable(columns, rows) {
  return { columns, rows };
}

// Plotly names the first axes x and y, the next x2, y2, ...
const axisId = (letter, index) => (index === 0 ? letter : `${letter}${index + 1}`);

// ---- charts -------------------------------------------------------------------------------------
// Each chart: build(state) → { traces, layout, table, note } or { note } when nothing can be drawn.
const CHARTS = {
  triangle(state) {
    const rows = (TABLES.triangle || []).filter((row) => row.month === state.month && row.store_id === state.store);
    if (!rows.length) return { note: `没有数据 No triangle for ${storeName(state.store)} in ${state.month}.` };
    const row = rows[0];
    const axes = [
      ["私域产权力 ownership", "ownership_score", "ownership_power", "connected users × reach capability"],
      ["单客价值度 value", "value_score", "value_index", "repurchase rate × LTV per customer"],
      ["客户推荐率 referral", "referral_score", "referral_index", "referrals per active × inviter share"],
    ];
    const theta = axes.map((a) => a[0]);
    const scores = axes.map((a) => row[a[1]]);
    const indexes = axes.map((a) => row[a[2]]);
    return {
      traces: [
        {
          type: "scatterpolar", name: `${storeName(state.store)} ${state.month}`, theta: [...theta, theta[0]],
          r: [...scores, scores[0]], fill: "toself", line: { color: COLOURS[0], width: 2 },
          customdata: [...indexes, indexes[0]],
          hovertemplate: "%{theta}<br>score %{r:.2f} of target<br>index %{customdata:,.3f}<extra></extra>",
        },
        {
          type: "scatterpolar", name: "目标 target (1.0)", theta: [...theta, theta[0]], r: [1, 1, 1, 1],
          line: { color: COLOURS[1], dash: "dash", width: 1 }, hoverinfo: "skip",
        },
      ],
      layout: baseLayout({
        polar: {
          radialaxis: { range: [0, Math.max(1.2, ...scores.map((s) => (s || 0) * 1.1))], angle: 30, dtick: 0.5, tickfont: { size: 10 } },
          angularaxis: { rotation: 90, direction: "clockwise" },
        },
        title: { text: `三角面积 area ${num(row.triangle_area, 3)} · 已连接 connected ${num(row.connected_users)}`, font: { size: 14 } },
        margin: { t: 60, r: 80, b: 60, l: 80 },
      }),
      table: csvTable(
        ["月份 month", "门店 store", "维度 measure", "指数 index", "得分 score (index / target)", "公式 formula"],
        axes.map((a) => [state.month, storeName(state.store), a[0], row[a[2]], row[a[1]], a[3]]),
      ),
      note: row.unavailable_reason || "",
    };
  },

  trends(state) {
    const groups = TREND_GROUPS;
    const group = groups[state.trendGroup] || groups.triangle;
    const grain = state.grain;
    const rows = (TABLES.trends || []).filter((row) => row.grain === grain && row.store_id === state.store);
    const end = monthEnd(state.month);
    let start;
    if (grain === "day") start = `${state.month}-01`;
    else if (grain === "week") {
      const d = new Date(`${end}T00:00:00Z`);
      d.setUTCDate(d.getUTCDate() - 7 * 13 + 1);
      start = d.toISOString().slice(0, 10);
    } else start = "0000-00-00";
    const inWindow = rows.filter((row) => row.period >= start && row.period <= end);
    const traces = [];
    const table = [];
    group.series.forEach(([key, label], i) => {
      const points = inWindow.filter((row) => row.series === key).sort((a, b) => (a.period < b.period ? -1 : 1));
      if (!points.length) return;
      traces.push({
        type: "scatter", mode: grain === "day" ? "lines" : "lines+markers", name: label,
        x: points.map((p) => p.period), y: points.map((p) => p.value), line: { color: COLOURS[i % COLOURS.length] },
        hovertemplate: `${label}<br>%{x}: %{y:${group.format}}<extra></extra>`,
      });
      points.forEach((p) => table.push([grain, p.period, storeName(state.store), label, p.value]));
    });
    const windowText = { day: `days of ${state.month}`, week: `13 weeks to ${end}`, month: `months to ${state.month}` }[grain];
    if (!traces.length)
      return { note: `没有数据 ${group.label}: nothing for ${storeName(state.store)} (${windowText}). ${group.storeNote || ""}` };
    return {
      traces,
      layout: baseLayout({
        xaxis: axis(`${{ day: "日 day", week: "周 week (Monday)", month: "月 month" }[grain]}`, { type: "date" }),
        yaxis: axis(group.axis, { tickformat: group.format.replace(",", "") === ".1%" ? ".0%" : group.format }),
        title: { text: `${group.label} · ${storeName(state.store)} · ${windowText}`, font: { size: 14 } },
      }),
      table: csvTable(["粒度 grain", "期间 period start", "门店 store", "指标 measure", "值 value"], table),
      note: state.store !== ALL && group.storeNote ? group.storeNote : "",
    };
  },

  community_grades(state) {
    const rows = (TABLES.community_grades || [])
      .filter((row) => row.store_id === state.store && row.month <= state.month)
      .sort((a, b) => (a.month < b.month ? -1 : 1));
    if (!rows.length) return { note: `没有社群 No groups for ${storeName(state.store)} up to ${state.month}.` };
    const grades = ["S", "A", "B", "C", "D", "ungraded"];
    const traces = grades.map((grade) => ({
      type: "bar", name: grade === "ungraded" ? "未分级 ungraded" : `${grade} 级`, x: rows.map((r) => r.month),
      y: rows.map((r) => r[`groups_${grade.toLowerCase()}`]),
      marker: {
        color: GRADE_COLOURS[grade],
        line: { color: rows.map((r) => (r.month === state.month ? "#000" : "rgba(0,0,0,0)")), width: 2 },
      },
      hovertemplate: `%{x} · ${grade}: %{y} groups<extra></extra>`,
    }));
    return {
      traces,
      layout: baseLayout({
        barmode: "stack",
        xaxis: axis("月份 month", { type: "category" }),
        yaxis: axis("社群数 groups"),
        title: { text: `${storeName(state.store)} · ${state.month} outlined`, font: { size: 14 } },
      }),
      table: csvTable(
        ["月份 month", "门店 store", "社群数 groups", ...grades.map((g) => `${g}`)],
        rows.map((r) => [r.month, storeName(state.store), r.groups, ...grades.map((g) => r[`groups_${g.toLowerCase()}`])]),
      ),
    };
  },

  community_groups(state) {
    const rows = (TABLES.community_groups || []).filter(
      (row) => row.month === state.month && (state.store === ALL || row.store_id === state.store),
    );
    if (!rows.length) return { note: `没有社群 No groups for ${storeName(state.store)} in ${state.month}.` };
    const top = rows.slice().sort((a, b) => (b.gmv || 0) - (a.gmv || 0) || (b.members || 0) - (a.members || 0)).slice(0, 15).reverse();
    const label = (r) => `${r.group_name || r.chat_id} · ${guideName(r.owner_userid)}`;
    const grades = ["S", "A", "B", "C", "D", "ungraded"];
    const traces = grades
      .map((grade) => {
        const part = top.filter((r) => r.grade === grade);
        return {
          type: "bar", orientation: "h", name: grade === "ungraded" ? "未分级 ungraded" : `${grade} 级`, legendgroup: grade,
          y: part.map(label), x: part.map((r) => r.gmv || 0), marker: { color: GRADE_COLOURS[grade] },
          customdata: part.map((r) => [storeName(r.store_id), r.members, pct(r.activity_rate), pct(r.visitor_pay_conversion)]),
          hovertemplate: "%{y}<br>%{customdata[0]}<br>GMV ¥%{x:,.0f}<br>members %{customdata[1]} · activity %{customdata[2]} · pay conversion %{customdata[3]}<extra></extra>",
        };
      })
      .filter((trace) => trace.y.length);
    traces.push({
      type: "scatter", mode: "markers", name: "成员 members", y: top.map(label), x: top.map((r) => r.members), xaxis: "x2",
      marker: { color: "#555", symbol: "diamond", size: 9 }, hovertemplate: "%{y}<br>%{x} members<extra></extra>",
    });
    return {
      traces,
      layout: baseLayout({
        barmode: "stack",
        height: 120 + 28 * top.length,
        xaxis: axis("社群 GMV (元 yuan)", { domain: [0, 0.68] }),
        xaxis2: axis("成员 members", { domain: [0.74, 1], anchor: "y", rangemode: "tozero" }),
        yaxis: axis("", { type: "category", categoryorder: "array", categoryarray: top.map(label) }),
        title: { text: `${storeName(state.store)} · ${state.month} · top ${top.length} of ${rows.length} groups by GMV`, font: { size: 14 } },
        margin: { t: 40, r: 20, b: 40, l: 20 },
      }),
      table: csvTable(
        ["月份 month", "门店 store", "群名 group", "群主 owner", "等级 grade", "成员 members", "活跃率 activity rate", "访客支付转化 visitor pay conversion", "GMV (元)", "复购率 repurchase rate", "裂变率 fission rate"],
        rows.map((r) => [r.month, storeName(r.store_id), r.group_name || r.chat_id, guideName(r.owner_userid), r.grade, r.members, r.activity_rate, r.visitor_pay_conversion, r.gmv, r.repurchase_rate, r.fission_rate]),
      ),
    };
  },

  rfm_segments(state) {
    const all = TABLES.rfm_segments || [];
    const rows = all.filter((row) => row.month === state.month && row.store_id === state.store).sort((a, b) => a.segment_order - b.segment_order);
    if (!rows.length) return { note: `没有分层 No segment snapshot in ${state.month}: ${keptText(all)}` };
    const ordered = rows.slice().reverse();
    const labels = ordered.map((r) => `${r.segment_zh} ${r.segment_en}`);
    return {
      traces: [
        { type: "bar", orientation: "h", name: "客户数 customers", y: labels, x: ordered.map((r) => r.customers), marker: { color: COLOURS[0] },
          hovertemplate: "%{y}<br>%{x:,} customers<extra></extra>" },
        { type: "bar", orientation: "h", name: "人均消费 net spend per customer (元)", y: labels, x: ordered.map((r) => r.monetary_per_customer),
          xaxis: "x2", marker: { color: COLOURS[1] }, hovertemplate: "%{y}<br>¥%{x:,.0f} per customer<extra></extra>" },
      ],
      layout: baseLayout({
        xaxis: axis("客户数 customers", { domain: [0, 0.55] }),
        xaxis2: axis("人均消费 yuan per customer", { domain: [0.62, 1], anchor: "y" }),
        yaxis: axis("", { type: "category", categoryorder: "array", categoryarray: labels }),
        title: { text: `${storeName(state.store)} · as of ${rows[0].as_of}`, font: { size: 14 } },
        margin: { t: 40, r: 20, b: 40, l: 20 },
      }),
      table: csvTable(
        ["截至 as of", "门店 store", "分层 segment", "segment", "客户数 customers", "人均消费 net spend per customer (元)"],
        rows.map((r) => [r.as_of, storeName(state.store), r.segment_zh, r.segment_en, r.customers, r.monetary_per_customer]),
      ),
    };
  },

  lifecycle(state) {
    const all = TABLES.lifecycle || [];
    const rows = all.filter((row) => row.month === state.month && row.store_id === state.store);
    if (!rows.length) return { note: `没有快照 No daily snapshots in ${state.month}: ${keptText(all)}` };
    const stages = [...new Map(rows.map((r) => [r.lifecycle_stage, r])).values()].sort((a, b) => a.stage_order - b.stage_order);
    const days = [...new Set(rows.map((r) => r.day))].sort();
    const traces = stages.map((stage, i) => {
      const counts = new Map(rows.filter((r) => r.lifecycle_stage === stage.lifecycle_stage).map((r) => [r.day, r.customers]));
      const name = `${stage.stage_zh} ${stage.stage_en}`;
      return {
        type: "scatter", mode: "lines", stackgroup: "stages", name, x: days, y: days.map((d) => counts.get(d) || 0),
        line: { color: COLOURS[i % COLOURS.length] }, hovertemplate: `${name}<br>%{x}: %{y:,}<extra></extra>`,
      };
    });
    return {
      traces,
      layout: baseLayout({
        xaxis: axis("日 day", { type: "date" }),
        yaxis: axis("客户数 customers"),
        title: { text: `${storeName(state.store)} · ${days[0]} – ${days[days.length - 1]}`, font: { size: 14 } },
      }),
      table: csvTable(
        ["日 day", "门店 store", "阶段 stage", "stage", "客户数 customers"],
        rows.map((r) => [r.day, storeName(state.store), r.stage_zh, r.stage_en, r.customers]),
      ),
    };
  },

  gmv_tree(state) {
    const rows = (TABLES.gmv_tree || []).filter((row) => row.store_id === state.store && row.month <= state.month);
    if (!rows.length) return { note: `没有数据 No GMV for ${storeName(state.store)} up to ${state.month}.` };
    const channels = state.store === ALL ? ["online", "store", "all"] : ["store"];
    const channelName = { online: "线上 online shop", store: state.store === ALL ? "门店 stores" : `门店 ${storeName(state.store)}`, all: "全渠道 all channels" };
    const panels = [
      ["gmv", "GMV (元)", ",.0f"], ["uv", "× UV 访客", ",.0f"], ["conversion", "× 转化率 conversion", ".1%"],
      ["aov", "× 客单价 AOV (元)", ",.0f"], ["purchase_frequency", "× 购买频次 frequency", ".2f"], ["buyers", "买家 buyers", ",.0f"],
    ];
    const traces = [];
    channels.forEach((channel, c) => {
      const points = rows.filter((r) => r.channel === channel).sort((a, b) => (a.month < b.month ? -1 : 1));
      panels.forEach(([column, title, format], p) => {
        const shown = points.filter((r) => r[column] != null);
        if (!shown.length) return;
        traces.push({
          type: column === "gmv" ? "bar" : "scatter", mode: "lines+markers", name: channelName[channel],
          legendgroup: channel, showlegend: p === 0, x: shown.map((r) => r.month), y: shown.map((r) => r[column]),
          xaxis: axisId("x", p), yaxis: axisId("y", p), marker: { color: COLOURS[c] }, line: { color: COLOURS[c] },
          hovertemplate: `${channelName[channel]} · ${title}<br>%{x}: %{y:${format}}<extra></extra>`,
        });
      });
    });
    const layout = baseLayout({
      grid: { rows: 2, columns: 3, pattern: "independent", xgap: 0.12, ygap: 0.35 },
      height: 560,
      margin: { t: 50, r: 20, b: 40, l: 60 },
      annotations: [],
      shapes: [],
    });
    panels.forEach(([column, title, format], p) => {
      const [x, y] = [axisId("x", p), axisId("y", p)];
      layout[x.replace("x", "xaxis")] = axis("", { type: "category", tickangle: -45, tickfont: { size: 10 } });
      layout[y.replace("y", "yaxis")] = axis("", { tickformat: format.replace(",", "").replace(".1%", ".0%") });
      layout.annotations.push({
        text: `<b>${title}</b>`, showarrow: false, xref: `${x} domain`, yref: `${y} domain`,
        x: 0, xanchor: "left", y: 1.02, yanchor: "bottom",
      });
      layout.shapes.push({
        type: "line", xref: x, yref: `${y} domain`, x0: state.month, x1: state.month, y0: 0, y1: 1,
        line: { color: "#b5475b", width: 2, dash: "dot" },
      });
      if (!traces.some((t) => t.xaxis === x))
        layout.annotations.push({
          text: "门店不统计访客<br>stores count no visitors", showarrow: false, xref: `${x} domain`,
          yref: `${y} domain`, x: 0.5, y: 0.5, font: { color: "#888" },
        });
    });
    const reasons = [...new Set(rows.map((r) => r.unavailable_reason).filter(Boolean))];
    return {
      traces,
      layout,
      table: csvTable(
        ["月份 month", "门店 store", "渠道 channel", "GMV (元)", "UV", "转化率 conversion", "客单价 AOV", "购买频次 frequency", "买家 buyers", "订单 orders"],
        rows.filter((r) => channels.includes(r.channel)).map((r) => [r.month, storeName(state.store), channelName[r.channel], r.gmv, r.uv, r.conversion, r.aov, r.purchase_frequency, r.buyers, r.orders]),
      ),
      note: [
        state.store === ALL ? "GMV = UV × conversion × AOV × frequency (online shop; stores count no visitors)." : "A store's till: GMV = buyers × frequency × AOV (stores count no visitors).",
        ...reasons,
      ].join(" "),
    };
  },

  guide_league(state) {
    const rows = (TABLES.guide_league || []).filter((row) => row.month === state.month && (state.store === ALL || row.store_id === state.store));
    if (!rows.length) return { note: `没有导购数据 No guide activity for ${storeName(state.store)} in ${state.month}.` };
    const top = rows.slice().sort((a, b) => b.gmv - a.gmv || b.friends_added - a.friends_added).slice(0, 20).reverse();
    const label = (r) => `${guideName(r.guide_userid)} · ${storeName(r.store_id)}`;
    return {
      traces: [
        {
          type: "bar", orientation: "h", name: "导购 GMV (元 yuan)", y: top.map(label), x: top.map((r) => r.gmv),
          marker: { color: COLOURS[0] },
          customdata: top.map((r) => [r.orders, r.buyers, r.friends_added, r.inherited]),
          hovertemplate: "%{y}<br>GMV ¥%{x:,.0f} · %{customdata[0]} orders · %{customdata[1]} buyers<br>friends added %{customdata[2]} · inherited %{customdata[3]}<extra></extra>",
        },
        {
          type: "scatter", mode: "markers", name: "新增好友 friends added", y: top.map(label), x: top.map((r) => r.friends_added),
          xaxis: "x2", marker: { color: COLOURS[1], symbol: "diamond", size: 9 },
          hovertemplate: "%{y}<br>friends added %{x}<extra></extra>",
        },
      ],
      layout: baseLayout({
        height: 140 + 26 * top.length,
        xaxis: axis("导购 GMV (元 yuan)", { domain: [0, 0.68] }),
        xaxis2: axis("新增好友 friends added", { domain: [0.74, 1], anchor: "y" }),
        yaxis: axis("", { type: "category", categoryorder: "array", categoryarray: top.map(label) }),
        title: { text: `${storeName(state.store)} · ${state.month} · top ${top.length} of ${rows.length} guides by attributed GMV`, font: { size: 14 } },
        margin: { t: 40, r: 20, b: 40, l: 20 },
      }),
      table: csvTable(
        ["月份 month", "门店 store", "导购 guide", "新增好友 friends added", "继承 inherited", "买家 buyers", "订单 orders", "GMV (元)"],
        rows.map((r) => [r.month, storeName(r.store_id), guideName(r.guide_userid), r.friends_added, r.inherited, r.buyers, r.orders, r.gmv]),
      ),
    };
  },

  audiences(state) {
    const all = TABLES.audiences || [];
    const rows = all.filter((row) => row.month === state.month && row.store_id === state.store);
    const days = [...new Set(all.map((r) => r.day))].sort();
    if (!rows.length)
      return { note: `人群按构建日计算 Audiences are computed for the build day only (${days.join(", ") || "none built"}); none for ${storeName(state.store)} in ${state.month}.` };
    const audiences = [...new Set(rows.map((r) => r.audience))];
    const totals = Object.fromEntries(audiences.map((a) => [a, rows.filter((r) => r.audience === a).reduce((s, r) => s + r.customers, 0)]));
    audiences.sort((a, b) => totals[a] - totals[b]);
    const channels = [...new Set(rows.map((r) => r.channel))].sort();
    return {
      traces: channels.map((channel, i) => {
        const part = new Map(rows.filter((r) => r.channel === channel).map((r) => [r.audience, r.customers]));
        return {
          type: "bar", orientation: "h", name: `渠道 channel: ${channel}`, y: audiences, x: audiences.map((a) => part.get(a) || 0),
          marker: { color: COLOURS[i % COLOURS.length] }, hovertemplate: `%{y} via ${channel}: %{x:,}<extra></extra>`,
        };
      }),
      layout: baseLayout({
        barmode: "stack",
        height: 160 + 30 * audiences.length,
        xaxis: axis("客户数 customers"),
        yaxis: axis("", { type: "category" }),
        title: { text: `${storeName(state.store)} · computed on ${rows[0].day}`, font: { size: 14 } },
        margin: { t: 40, r: 20, b: 40, l: 20 },
      }),
      table: csvTable(["计算日 day", "门店 store", "人群 audience", "渠道 channel", "客户数 customers"], rows.map((r) => [r.day, storeName(state.store), r.audience, r.channel, r.customers])),
    };
  },

  clv_calibration(state) {
    const rows = TABLES.clv_calibration;
    if (!rows) return { note: "暂不可用 Not available: the warehouse has no clv_calibration mart yet (built with the CLV model)." };
    const buckets = rows.filter((r) => r.frequency_bucket !== "all").sort((a, b) => a.bucket_order - b.bucket_order);
    const overall = rows.find((r) => r.frequency_bucket === "all");
    if (!buckets.length) return { note: "没有数据 The CLV calibration is empty: fewer than 50 buyers or 10 repeat buyers before its cut-off." };
    const x = buckets.map((r) => r.frequency_bucket);
    const customdata = buckets.map((r) => r.customers);
    return {
      traces: [
        { type: "scatter", mode: "lines+markers", name: "实际 actual", x, y: buckets.map((r) => r.actual_repeat_purchases), customdata,
          line: { color: COLOURS[0], width: 2 }, hovertemplate: "%{x} repeat purchase days in calibration<br>actual %{y:.2f} in holdout · %{customdata:,} customers<extra></extra>" },
        { type: "scatter", mode: "lines+markers", name: "模型预测 expected (BG/NBD)", x, y: buckets.map((r) => r.expected_repeat_purchases), customdata,
          line: { color: COLOURS[1], width: 2, dash: "dash" }, hovertemplate: "%{x} repeat purchase days in calibration<br>expected %{y:.2f} in holdout · %{customdata:,} customers<extra></extra>" },
      ],
      layout: baseLayout({
        xaxis: axis("校准期复购天数 repeat purchase days in the calibration period", { type: "category" }),
        yaxis: axis("保留期人均复购天数<br>holdout repeat days per customer", { rangemode: "tozero" }),
        title: { text: `calibration to ${buckets[0].calibration_end}, holdout to ${buckets[0].holdout_end}`, font: { size: 14 } },
      }),
      table: csvTable(
        ["校准期复购 calibration frequency", "客户数 customers", "实际 actual per customer", "预测 expected per customer", "校准期止 calibration end", "保留期止 holdout end"],
        rows.map((r) => [r.frequency_bucket, r.customers, r.actual_repeat_purchases, r.expected_repeat_purchases, r.calibration_end, r.holdout_end]),
      ),
      note:
        (overall ? `All customers: actual ${num(overall.actual_repeat_purchases, 3)}, expected ${num(overall.expected_repeat_purchases, 3)} per customer. ` : "") +
        "The model is fitted on all customers once: the month and store filters do not apply to it.",
    };
  },
};

const TREND_GROUPS = {
  triangle: {
    label: "私域三角 Triangle", axis: "得分 score (1 = target)", format: ".2f",
    series: [["ownership_score", "私域产权力 ownership"], ["value_score", "单客价值度 value"], ["referral_score", "客户推荐率 referral"], ["triangle_area", "三角面积 area"]],
  },
  gmv: {
    label: "GMV (元 yuan)", axis: "GMV (元)", format: ",.0f",
    series: [["gmv_all", "全渠道 all channels"], ["gmv_online", "线上 online shop"], ["gmv_store", "门店 stores (till)"], ["new_gmv", "新客 new buyers"], ["returning_gmv", "老客 returning buyers"]],
    storeNote: "For one store: its till sales (the online shop and the new/returning split are not split by store).",
  },
  guides: {
    label: "导购三率 Guide rates", axis: "比例 share of guides", format: ".1%",
    series: [["login_rate", "活跃率 login rate"], ["share_rate", "分享率 share rate"], ["order_rate", "成单率 order rate"]],
  },
  members: { label: "会员销售占比 Member share of store sales", axis: "占比 share", format: ".1%", series: [["member_sales_share", "会员销售占比 member sales share"]] },
  community: { label: "社群活跃率 Community activity rate", axis: "活跃率 speakers / members", format: ".1%", series: [["activity_rate", "活跃率 activity rate"]] },
};

function keptText(rows) {
  const months = [...new Set(rows.map((r) => r.month))].sort();
  return months.length ? `daily segments are kept for ${months.join(", ")} (var segments_history_days).` : "no snapshots kept.";
}

// Which KPI models a chart reads, for the reasons kpi_availability gives.
const CHART_MODELS = {
  triangle: ["kpi_triangle"], trends: ["kpi_triangle", "kpi_gmv_tree", "kpi_gmv_new_returning", "kpi_stores", "kpi_guides", "kpi_community_summary"],
  community_grades: ["kpi_community_summary"], community_groups: ["kpi_community"], gmv_tree: ["kpi_gmv_tree", "kpi_stores"], guide_league: ["kpi_guides"],
};

// ---- page ---------------------------------------------------------------------------------------
const STATE = { month: null, store: ALL, grain: "month", trendGroup: "triangle" };
const DRAWN = {};

function csvText(table) {
  const cell = (value) => {
    if (value == null) return "";
    const text = String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return "\ufeff" + [table.columns, ...table.rows].map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

function download(name) {
  const drawn = DRAWN[name];
  if (!drawn || !drawn.table) return;
  const blob = new Blob([csvText(drawn.table)], { type: "text/csv;charset=utf-8" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  const store = STATE.store === ALL ? "all-stores" : STATE.store;
  link.download = `siyu-${name}-${STATE.month}-${store}.csv`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function availabilityNotes(name) {
  const missing = TABLES.availability || [];
  return missing.filter((row) => (CHART_MODELS[name] || []).includes(row.kpi_model)).map((row) => `${row.kpi_model} ${row.measures}: ${row.unavailable_reason}`);
}

async function draw(name) {
  const section = document.querySelector(`section.chart[data-chart="${name}"]`);
  const plot = section.querySelector(".plot");
  const note = section.querySelector(".note");
  const button = section.querySelector("button.download");
  let result;
  if (!REPORT.tables[name] && name !== "clv_calibration") result = { note: "暂不可用 Not available: the models this chart reads are not in the warehouse." };
  else result = CHARTS[name](STATE);
  DRAWN[name] = result;
  note.textContent = [result.note, ...availabilityNotes(name)].filter(Boolean).join(" ");
  if (result.traces) {
    plot.hidden = false;
    await Plotly.react(plot, result.traces, result.layout, { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] });
  } else {
    Plotly.purge(plot);
    plot.hidden = true;
  }
  button.disabled = !result.table;
  section.dataset.state = `${STATE.month}|${STATE.store}|${result.traces ? "drawn" : "empty"}`;
}

async function drawAll() {
  document.body.dataset.ready = "0";
  const hash = new URLSearchParams({ month: STATE.month, store: STATE.store, grain: STATE.grain, trend: STATE.trendGroup });
  history.replaceState(null, "", `#${hash}`);
  for (const name of Object.keys(CHARTS)) await draw(name);
  document.body.dataset.ready = "1";
}

function option(select, value, text) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = text;
  select.appendChild(element);
}

function setUp() {
  const months = REPORT.period.months;
  const monthSelect = document.getElementById("filter-month");
  months.slice().reverse().forEach((month) => option(monthSelect, month, month));
  const storeSelect = document.getElementById("filter-store");
  [ALL, ...REPORT.period.stores].forEach((store) => option(storeSelect, store, store === ALL || !REPORT.names.stores[store] ? storeName(store) : `${storeName(store)} (${store})`));
  const grainSelect = document.getElementById("trend-grain");
  [["month", "月 month"], ["week", "周 week"], ["day", "日 day"]].forEach(([value, text]) => option(grainSelect, value, text));
  const groupSelect = document.getElementById("trend-group");
  Object.entries(TREND_GROUPS).forEach(([key, group]) => option(groupSelect, key, group.label));

  const asked = new URLSearchParams(location.hash.slice(1));
  STATE.month = months.includes(asked.get("month")) ? asked.get("month") : months[months.length - 1];
  STATE.store = [ALL, ...REPORT.period.stores].includes(asked.get("store")) ? asked.get("store") : ALL;
  STATE.grain = ["month", "week", "day"].includes(asked.get("grain")) ? asked.get("grain") : "month";
  STATE.trendGroup = asked.get("trend") in TREND_GROUPS ? asked.get("trend") : "triangle";
  monthSelect.value = STATE.month;
  storeSelect.value = STATE.store;
  grainSelect.value = STATE.grain;
  groupSelect.value = STATE.trendGroup;

  monthSelect.addEventListener("change", () => { STATE.month = monthSelect.value; drawAll(); });
  storeSelect.addEventListener("change", () => { STATE.store = storeSelect.value; drawAll(); });
  grainSelect.addEventListener("change", () => { STATE.grain = grainSelect.value; drawAll(); });
  groupSelect.addEventListener("change", () => { STATE.trendGroup = groupSelect.value; drawAll(); });
  document.querySelectorAll("button.download").forEach((button) =>
    button.addEventListener("click", () => download(button.closest("section.chart").dataset.chart)),
  );
  const missing = TABLES.availability || [];
  document.getElementById("availability").textContent = missing.length
    ? `不可计算 Not computable for this brand's sources: ${missing.map((r) => `${r.kpi_model} (${r.measures}): ${r.unavailable_reason}`).join("; ")}`
    : "";
  if (!months.length) {
    document.querySelectorAll("section.chart").forEach((section) => {
      section.querySelector(".note").textContent = "没有数据 No KPI periods in the warehouse yet: nothing to draw.";
      section.querySelector("button.download").disabled = true;
      section.dataset.state = "|all|empty";
    });
    document.body.dataset.ready = "1";
    return;
  }
  drawAll();
}

window.siyuReport = { state: STATE, drawn: DRAWN, csvText };
setUp();
