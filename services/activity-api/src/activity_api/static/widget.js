/* paceline widget: <paceline-activity> shows your latest activity and year-to-date totals.
 *
 *   <script src="https://fit.example.com/api/widget.js" defer></script>
 *   <paceline-activity sport="run" units="metric" theme="auto" layout="card"></paceline-activity>
 *
 * Attributes: api (base URL; default: where this script came from), athlete (id; default: the
 * site's primary account), sport (all|run|ride|swim), units (metric|imperial),
 * theme (auto|light|dark), layout (card|compact|strava-embed), locale (a language tag for
 * numbers and dates; default: the browser's), chart (weeks|months|none: a bar chart of the last
 * 12 weeks or months, read out through its aria-label; unknown periods dashed, not zero),
 * measure (distance|time: what the chart counts).
 * layout="strava-embed" shows the latest public activity with Strava's own official embed
 * (https://strava-embeds.com/embed.js), for owners who want to stay strictly inside the terms.
 * Links back to Strava read "View on Strava" and "Powered by Strava" is always shown, as
 * Strava's API brand guidelines ask.
 * Every piece of text is set with textContent: names from Strava are data, never markup.
 */
(function () {
  "use strict";
  if (!window.customElements || customElements.get("paceline-activity")) return;

  var EMBED_JS = "https://strava-embeds.com/embed.js";
  var script = document.currentScript;
  var DEFAULT_API = script && script.src ? script.src.replace(/\/widget\.js(\?.*)?$/, "") : "";
  var FAMILIES = {
    run: ["Run", "TrailRun", "VirtualRun"],
    ride: ["Ride", "GravelRide", "MountainBikeRide", "VirtualRide", "EBikeRide", "EMountainBikeRide", "Velomobile", "Handcycle"],
    swim: ["Swim"]
  };
  var CSS =
    ":host{display:block;max-width:420px;font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;" +
    "--bg:#fff;--fg:#1d1d1f;--muted:#6b6b70;--line:#e4e4e7;--accent:#fc5200;--link:#c43d00}" +
    ":host([data-theme=dark]){--bg:#1c1c1e;--fg:#f2f2f7;--muted:#a1a1aa;--line:#3a3a3c;--link:#fc5200}" +
    "@media (prefers-color-scheme:dark){:host([data-theme=auto]){--bg:#1c1c1e;--fg:#f2f2f7;--muted:#a1a1aa;--line:#3a3a3c;--link:#fc5200}}" +
    ".card{background:var(--bg);color:var(--fg);border:1px solid var(--line);border-radius:12px;padding:14px 16px}" +
    "a{color:inherit}h3{margin:0 0 2px;font-size:16px}.muted{color:var(--muted);font-size:12px}" +
    ".stats{display:flex;flex-wrap:wrap;gap:6px 18px;margin:10px 0}.stat b{display:block;font-size:15px}" +
    ".stat span{color:var(--muted);font-size:11px;text-transform:uppercase;letter-spacing:.04em}" +
    "img{width:100%;border-radius:8px;margin-top:8px;display:block}" +
    ".bar{height:6px;background:var(--line);border-radius:3px;overflow:hidden;margin-top:4px}" +
    ".bar i{display:block;height:100%;background:var(--accent);transition:width .6s ease}" +
    ".note{margin-top:8px;font-size:12px;color:var(--muted)}.foot{margin-top:10px;font-size:11px;color:var(--muted)}" +
    ".foot a,a.view{color:var(--link);font-weight:600}.foot a{text-decoration:none}" +
    "a:focus-visible{outline:2px solid var(--link);outline-offset:2px;border-radius:2px}" +
    ".loading{animation:pulse 1.2s ease-in-out infinite}@keyframes pulse{50%{opacity:.45}}" +
    "@media (prefers-reduced-motion:reduce){.loading{animation:none}.bar i{transition:none}}" +
    ".chart{margin:8px 0}.chart svg{display:block;width:100%;margin-top:4px}.chart rect{fill:var(--accent)}.chart .z{fill:var(--line)}" +
    ".chart .u{fill:none;stroke:var(--muted);stroke-dasharray:2}" +
    ":host([layout=compact]) img,:host([layout=compact]) .chart{display:none}";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = String(text);
    return node;
  }
  function svg(tag, attrs, parent) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    return parent.appendChild(node);
  }
  function link(href, text) {
    var a = el("a", null, text);
    if (/^https?:\/\//.test(href || "")) a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }
  function stat(value, label) {
    var s = el("div", "stat");
    s.appendChild(el("b", null, value));
    s.appendChild(el("span", null, label));
    return s;
  }
  function duration(seconds) {
    seconds = Math.round(seconds || 0);
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var mm = (h && m < 10 ? "0" : "") + m, ss = (s < 10 ? "0" : "") + s;
    return h ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }
  function ago(seconds) {
    if (seconds < 90) return "a minute ago";
    if (seconds < 5400) return Math.round(seconds / 60) + " minutes ago";
    if (seconds < 129600) return Math.round(seconds / 3600) + " hours ago";
    return Math.round(seconds / 86400) + " days ago";
  }

  function Units(imperial, locale) {
    this.imperial = imperial;
    this.l = locale;
    this.n = function (v, d) { return v.toLocaleString(locale, { minimumFractionDigits: d, maximumFractionDigits: d }); };
  }
  Units.prototype.distance = function (m) {
    return this.imperial ? this.n(m / 1609.344, 2) + " mi" : this.n(m / 1000, 2) + " km";
  };
  Units.prototype.total = function (m) {
    var v = this.imperial ? m / 1609.344 : m / 1000;
    return this.n(v, v >= 100 ? 0 : 1) + (this.imperial ? " mi" : " km");
  };
  Units.prototype.elevation = function (m) {
    return this.imperial ? this.n(m * 3.28084, 0) + " ft" : this.n(m, 0) + " m";
  };
  Units.prototype.pace = function (sPerKm) {
    var s = this.imperial ? sPerKm * 1.609344 : sPerKm;
    return duration(s) + (this.imperial ? " /mi" : " /km");
  };
  Units.prototype.speed = function (mps) {
    return this.imperial ? this.n(mps * 2.23694, 1) + " mph" : this.n(mps * 3.6, 1) + " km/h";
  };

  function localDate(activity, locale) {
    var when = activity.start_time_local;
    var options = { weekday: "short", day: "numeric", month: "short", year: "numeric" };
    if (activity.start_time_hidden || !when) {
      // Start time hidden by the athlete: the day as Strava gives it, never shifted by a zone.
      var day = activity.start_date_local;
      if (!day) return "";
      options.timeZone = "UTC";
      return new Date(day + "T12:00:00Z").toLocaleDateString(locale, options);
    }
    try {
      if (activity.timezone) options.timeZone = activity.timezone;
      return new Date(when).toLocaleDateString(locale, options);
    } catch (e) {
      delete options.timeZone;
      return new Date(when).toLocaleDateString(locale, options);
    }
  }

  class PacelineActivity extends HTMLElement {
    static get observedAttributes() {
      return ["api", "athlete", "sport", "units", "theme", "layout", "locale", "chart", "measure"];
    }
    constructor() {
      super();
      this.root = this.attachShadow({ mode: "open" });
      this.data = null;
      this.state = "loading";
    }
    connectedCallback() {
      this.load();
    }
    attributeChangedCallback() {
      if (this.isConnected) this.render();
    }
    url() {
      var api = (this.getAttribute("api") || DEFAULT_API).replace(/\/$/, "");
      var athlete = this.getAttribute("athlete");
      return api + (athlete ? "/v1/strava/athletes/" + encodeURIComponent(athlete) + "/summary" : "/v1/strava/summary");
    }
    load() {
      var self = this;
      this.state = this.data ? this.state : "loading";
      this.render();
      fetch(this.url(), { headers: { Accept: "application/json" }, credentials: "omit" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          self.data = data;
          self.state = data.meta && data.meta.stale ? "stale" : "ready";
          self.render();
        })
        .catch(function () {
          self.state = self.data ? "stale" : "unavailable";
          self.render();
          clearTimeout(self.retry);
          self.retry = setTimeout(function () { self.load(); }, 60000);
        });
    }
    render() {
      var theme = this.getAttribute("theme") || "auto";
      this.setAttribute("data-theme", /^(light|dark|auto)$/.test(theme) ? theme : "auto");
      this.setAttribute("data-state", this.state);
      var root = this.root;
      while (root.firstChild) root.removeChild(root.firstChild);
      root.appendChild(el("style", null, CSS));
      var card = el("div", "card");
      card.setAttribute("part", "card");
      root.appendChild(card);
      if (this.state === "loading") {
        card.appendChild(el("div", "loading muted", "Loading activity\u2026"));
        return;
      }
      if (!this.data) {
        card.appendChild(el("div", "unavailable", "Activity data is unavailable right now."));
        card.appendChild(el("div", "note", "Please check back a little later."));
        this.footer(card);
        return;
      }
      if (this.getAttribute("layout") === "strava-embed") this.embed(card, this.data);
      else this.content(card, this.data);
    }
    embed(card, data) {
      // Strava's embed script looks for placeholders in the page, not in a shadow root: the
      // placeholder goes into the element's own children, shown through a slot.
      var latest = data.latest_activity;
      while (this.firstChild) this.removeChild(this.firstChild);
      if (latest && /^\d+$/.test(String(latest.id))) {
        var holder = el("div", "strava-embed-placeholder");
        holder.setAttribute("data-embed-type", "activity");
        holder.setAttribute("data-embed-id", String(latest.id));
        holder.setAttribute("data-style", "standard");
        this.appendChild(holder);
        var loader = document.createElement("script");
        loader.src = EMBED_JS;
        this.appendChild(loader);
        card.appendChild(document.createElement("slot"));
      } else {
        card.appendChild(el("div", "muted", "No recent activities yet."));
      }
      this.footer(card);
    }
    content(card, data) {
      var locale = this.getAttribute("locale") || undefined;
      try { new Intl.NumberFormat(locale); } catch (e) { locale = undefined; } // not a language tag
      var units = new Units(this.getAttribute("units") === "imperial", locale);
      var sport = (this.getAttribute("sport") || "all").toLowerCase();
      var family = FAMILIES[sport];
      var pool = (data.recent_activities || []).slice();
      if (data.latest_activity && !pool.length) pool.push(data.latest_activity);
      var latest = family ? pool.filter(function (a) { return family.indexOf(a.sport_type) >= 0; })[0] : data.latest_activity;
      var athlete = data.athlete || {};
      card.appendChild(el("div", "muted", athlete.display_name || "Athlete"));
      if (latest) {
        card.appendChild(el("h3", "name", latest.name || latest.sport_type));
        card.appendChild(el("div", "muted date", localDate(latest, locale) + " \u00b7 " + latest.sport_type));
        var stats = el("div", "stats");
        stats.appendChild(stat(units.distance(latest.distance_m || 0), "Distance"));
        stats.appendChild(stat(duration(latest.moving_time_s), "Time"));
        if (latest.pace_s_per_km) stats.appendChild(stat(units.pace(latest.pace_s_per_km), "Pace"));
        else stats.appendChild(stat(units.speed(latest.average_speed_m_per_s || 0), "Speed"));
        stats.appendChild(stat(units.elevation(latest.elevation_gain_m || 0), "Elevation"));
        card.appendChild(stats);
        if (latest.photo_url && /^https?:\/\//.test(latest.photo_url)) {
          var img = el("img");
          img.src = latest.photo_url;
          img.alt = latest.name || "Activity photo";
          img.loading = "lazy";
          img.onerror = function () { img.remove(); };
          card.appendChild(img);
        }
        var view = link(latest.url, "View on Strava");
        view.className = "view";
        card.appendChild(view);
      } else {
        card.appendChild(el("div", "muted", "No recent " + (family ? sport + "s" : "activities") + " yet."));
      }
      this.totals(card, data, sport, units);
      if (this.state === "stale" && data.meta) {
        card.appendChild(el("div", "note stale", "Updated " + ago(data.meta.age_seconds || 0) + "; Strava is not answering right now."));
      }
      this.footer(card);
    }
    totals(card, data, sport, units) {
      var sports = FAMILIES[sport] ? [sport] : ["run", "ride", "swim"];
      var totals = data.totals || {};
      var box = el("div", "ytd");
      sports.forEach(function (name) {
        var ytd = totals[name] && totals[name].year_to_date;
        if (!ytd || !ytd.count) return;
        var row = el("div", "stats");
        row.appendChild(stat(units.total(ytd.distance_m), name + " this year"));
        row.appendChild(stat(ytd.count, "activities"));
        row.appendChild(stat(units.n((ytd.moving_time_s || 0) / 3600, 0) + " h", "time"));
        box.appendChild(row);
      });
      this.chart(box, data.history || {}, sport, units);
      (data.goals || []).forEach(function (goal) {
        if (sports.indexOf(goal.sport) < 0) return;
        var fmt = goal.metric === "distance_m" ? units.total.bind(units) : goal.metric === "elevation_gain_m" ? units.elevation.bind(units) : function (v) { return units.n(goal.metric === "moving_time_s" ? v / 3600 : v, 0) + (goal.metric === "moving_time_s" ? " h" : ""); };
        var ahead = goal.ahead_by;
        var pct = Math.max(0, Math.min(1, goal.progress_ratio || 0));
        var g = el("div", "goal");
        g.appendChild(el("div", "muted", goal.year + " " + goal.sport + " goal: " + fmt(goal.current) + " of " + fmt(goal.target) + " (" + Math.round(pct * 100) + "%)"));
        var bar = el("div", "bar");
        var fill = el("i");
        fill.style.width = pct * 100 + "%";
        bar.appendChild(fill);
        g.appendChild(bar);
        if (ahead != null) g.appendChild(el("div", "muted pace", fmt(Math.abs(ahead)) + (ahead < 0 ? " behind" : " ahead of") + " even pace; on pace for " + fmt(goal.projected_year_end) + " by year end"));
        box.appendChild(g);
      });
      var st = (data.history || {}).streaks;
      function count(n, w) { return units.n(n || 0, 0) + " " + w + (n === 1 ? "" : "s"); }
      if (st) box.appendChild(el("div", "muted streak", "Streak: " + ["day", "week"].map(function (w) {
        var x = st[w + "s"] || {};
        return count(x.current, w) + " (longest " + count(x.longest, w) + ")";
      }).join(", ")));
      card.appendChild(box);
    }
    chart(box, history, sport, units) {
      var kind = this.getAttribute("chart");
      var per = kind === "months" ? "month" : "week";
      var time = this.getAttribute("measure") === "time";
      var found = history[per + "ly"] || {}, series = kind !== "none" && found[FAMILIES[sport] ? sport : "all"];
      if (!series) return;
      var first = (found[per + "_starts"] || [])[0];
      var unit = time ? "h" : units.imperial ? "mi" : "km";
      var values = series[time ? "moving_time_s" : "distance_m"].map(function (v) {
        return v == null ? v : v / (time ? 3600 : units.imperial ? 1609.344 : 1000);
      });
      var most = Math.max.apply(null, values.map(Number)) || 1;
      var n = values.length, last = "Last " + n + " " + per + "s";
      var fig = el("div", "chart");
      fig.appendChild(el("div", "muted", last + " (" + unit + ")"));
      var g = svg("svg", { viewBox: "0 0 " + n * 20 + " 30", role: "img", "aria-label": (time ? "Moving time" : "Distance") + " per " + per + ", " + last.toLowerCase() + (first ? " from " + new Date(first + "T12:00:00Z").toLocaleDateString(units.l, { timeZone: "UTC", day: per === "week" ? "numeric" : undefined, month: "short", year: "numeric" }) : "") + ", oldest first, in " + unit + ": " + values.map(function (v) {
        return v == null ? "unknown" : units.n(v, 1);
      }).join(", ") }, fig);
      values.forEach(function (v, i) {
        var h = v ? Math.max(2, 30 * v / most) : 1;
        svg("rect", v == null ? { x: i * 20 + .5, y: .5, width: 15, height: 29, "class": "u" } : { x: i * 20, y: 30 - h, width: 16, height: h, "class": v ? "b" : "z" }, g);
      });
      box.appendChild(fig);
    }
    footer(card) {
      var foot = el("div", "foot");
      var a = link("https://www.strava.com", "Powered by Strava");
      foot.appendChild(a);
      card.appendChild(foot);
    }
  }
  customElements.define("paceline-activity", PacelineActivity);
})();
