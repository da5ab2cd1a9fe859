/*
 * FlexMeasures schedule card (custom:flexmeasures-schedule-card).
 *
 * Served and registered by the FlexMeasures integration itself: no dashboard
 * resource, no build step, no third-party code. Plain JavaScript drawing SVG.
 *
 *   type: custom:flexmeasures-schedule-card
 *   device_id: <a FlexMeasures schedule (or site) device>
 *   hours: 24        # optional, how far ahead to draw
 *   title: ...       # optional, default the device's name
 *
 * It finds the device's entities in hass.entities (platform flexmeasures, by
 * translation key): power_setpoint (attribute `schedule: [{start, end, value}]`,
 * UTC, kW, consumption positive), consumption_price (state = price now,
 * attribute `forecast`), planned_cost, next_change, stale; on a site device
 * site_power (its `schedule`, and `devices`: the members' power_setpoint
 * entities, drawn stacked; the site's price is its members' consumption_price).
 * The attributes are in kW; the card shows them in the setpoint's display
 * unit (W when the user picked W). Drawn elements carry data-* attributes
 * (start, value in kW, ...) so that a browser check can compare them with the
 * attributes.
 *
 * Its texts are in TEXTS, one table per language, picked by the user's
 * language (hass.locale.language, else hass.language: nl-BE is nl; English when
 * the language has no table); numbers and times follow hass.locale.
 */

const CARD_TYPE = "flexmeasures-schedule-card";
const EDITOR_TYPE = `${CARD_TYPE}-editor`;
const DOMAIN = "flexmeasures";
const DEFAULT_HOURS = 24;
const MAX_HOURS = 168;
const CHART_HEIGHT = 220;
const MIN_WIDTH = 260;
const REDRAW_MS = 60_000; // the now marker moves once a minute
const TICK_HOURS = [1, 2, 3, 4, 6, 8, 12, 24, 48];
const MEMBER_COLORS = ["#4db6ac", "#f06292", "#ffb74d", "#7986cb", "#a1887f", "#90a4ae"];
// Below this (kW, i.e. 1 W) a power is idle, as the integration's `charging` says.
const IDLE_KW = 0.001;
// The display units Home Assistant offers for a power, per kW (the attribute's unit).
const PER_KW = { mW: 1e6, W: 1000, kW: 1, MW: 0.001, GW: 1e-6, TW: 1e-9 };
const MAX_TICKS = 50;

// The card's texts per language; text() fills in the {placeholders}. Strict JSON
// between the markers (tests/test_card_texts.py reads it): same keys in each.
const TEXTS = /* texts: begin */ {
  "en": {
    "card_name": "FlexMeasures schedule",
    "card_description": "The planned charging and discharging of a FlexMeasures schedule, with the price and the setpoint now.",
    "invalid_config": "Invalid configuration",
    "invalid_hours": "hours must be a number from 1 to {max}",
    "not_updated": "Not updated",
    "not_updated_title": "The last schedule update failed; the plan shown is the last good one.",
    "no_schedule_on_device": "This device has no FlexMeasures schedule.",
    "pick_device": "Pick a FlexMeasures schedule device in the card's settings.",
    "charging": "Charging",
    "discharging": "Discharging",
    "price_unit": "Price ({unit})",
    "charging_now": "Charging now",
    "discharging_now": "Discharging now",
    "idle_now": "Idle now",
    "no_schedule_now": "No schedule covers now",
    "next_change": "Next change",
    "end_of_plan": "end of plan",
    "price_now": "Price now",
    "planned_cost": "Planned cost",
    "no_planned_power": "No planned power in the next {hours} hours.",
    "chart_label": "Planned power over the next hours",
    "now": "now",
    "editor_device": "FlexMeasures schedule device",
    "editor_title": "Title (default: the device's name)",
    "editor_hours": "Hours ahead (default {hours})"
  },
  "nl": {
    "card_name": "FlexMeasures-planning",
    "card_description": "Het geplande laden en ontladen van een FlexMeasures-planning, met de prijs en het setpoint nu.",
    "invalid_config": "Ongeldige configuratie",
    "invalid_hours": "hours moet een getal van 1 tot {max} zijn",
    "not_updated": "Niet bijgewerkt",
    "not_updated_title": "Het bijwerken van de planning is mislukt; getoond wordt de laatste goede planning.",
    "no_schedule_on_device": "Dit apparaat heeft geen FlexMeasures-planning.",
    "pick_device": "Kies een FlexMeasures-planningsapparaat in de instellingen van de kaart.",
    "charging": "Laden",
    "discharging": "Ontladen",
    "price_unit": "Prijs ({unit})",
    "charging_now": "Laadt nu",
    "discharging_now": "Ontlaadt nu",
    "idle_now": "Nu inactief",
    "no_schedule_now": "Geen planning voor nu",
    "next_change": "Volgende wijziging",
    "end_of_plan": "einde van de planning",
    "price_now": "Prijs nu",
    "planned_cost": "Geplande kosten",
    "no_planned_power": "Geen gepland vermogen in de komende {hours} uur.",
    "chart_label": "Gepland vermogen in de komende uren",
    "now": "nu",
    "editor_device": "FlexMeasures-planningsapparaat",
    "editor_title": "Titel (standaard: de naam van het apparaat)",
    "editor_hours": "Uren vooruit (standaard {hours})"
  },
  "de": {
    "card_name": "FlexMeasures-Zeitplan",
    "card_description": "Das geplante Laden und Entladen eines FlexMeasures-Zeitplans, mit dem Preis und dem Sollwert jetzt.",
    "invalid_config": "Ungültige Konfiguration",
    "invalid_hours": "hours muss eine Zahl von 1 bis {max} sein",
    "not_updated": "Nicht aktualisiert",
    "not_updated_title": "Die letzte Aktualisierung des Zeitplans ist fehlgeschlagen; angezeigt wird der letzte gültige Zeitplan.",
    "no_schedule_on_device": "Dieses Gerät hat keinen FlexMeasures-Zeitplan.",
    "pick_device": "Wähle in den Einstellungen der Karte ein FlexMeasures-Zeitplangerät.",
    "charging": "Laden",
    "discharging": "Entladen",
    "price_unit": "Preis ({unit})",
    "charging_now": "Lädt jetzt",
    "discharging_now": "Entlädt jetzt",
    "idle_now": "Jetzt im Leerlauf",
    "no_schedule_now": "Kein Zeitplan für jetzt",
    "next_change": "Nächste Änderung",
    "end_of_plan": "Ende des Zeitplans",
    "price_now": "Preis jetzt",
    "planned_cost": "Geplante Kosten",
    "no_planned_power": "Keine geplante Leistung in den nächsten {hours} Stunden.",
    "chart_label": "Geplante Leistung in den nächsten Stunden",
    "now": "jetzt",
    "editor_device": "FlexMeasures-Zeitplangerät",
    "editor_title": "Titel (Standard: der Name des Geräts)",
    "editor_hours": "Stunden voraus (Standard {hours})"
  }
} /* texts: end */;

/** The table of the user's language: hass.locale.language, hass.language, else the page's. */
export function cardLanguage(hass) {
  const tag = (hass && ((hass.locale && hass.locale.language) || hass.language)) || document.documentElement.lang;
  const base = String(tag || "en").toLowerCase().split(/[-_]/)[0];
  return Object.hasOwn(TEXTS, base) ? base : "en";
}

/** The text `key` in the user's language, its {name}s filled in from `values`. */
export function text(hass, key, values = {}) {
  const template = TEXTS[cardLanguage(hass)][key] ?? TEXTS.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (all, name) => (Object.hasOwn(values, name) ? String(values[name]) : all));
}

// ------------------------------------------------------------------ pure helpers

/** A `schedule`/`forecast` attribute as sorted steps {start, end (ms), value, iso}. */
export function parseSteps(items) {
  if (!Array.isArray(items)) return [];
  const steps = [];
  for (const item of items) {
    if (!item || typeof item !== "object") continue;
    const start = Date.parse(item.start);
    const end = Date.parse(item.end);
    const value = typeof item.value === "number" ? item.value : Number.parseFloat(item.value);
    if (Number.isFinite(start) && Number.isFinite(end) && end > start && Number.isFinite(value)) {
      steps.push({ start, end, value, iso: String(item.start) });
    }
  }
  return steps.sort((a, b) => a.start - b.start);
}

/** The value of the step covering t (start <= t < end), or null. */
export function valueAt(steps, t) {
  let lo = 0;
  let hi = steps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const step = steps[mid];
    if (t < step.start) hi = mid - 1;
    else if (t >= step.end) lo = mid + 1;
    else return step.value;
  }
  return null;
}

/** The steps overlapping [x0, x1). */
export function stepsIn(steps, x0, x1) {
  return steps.filter((s) => s.end > x0 && s.start < x1);
}

/**
 * Stack the members' schedules over [x0, x1): charging (> 0) upwards from 0,
 * discharging (< 0) downwards, in member order. Returns segments
 * {member, start, end, value, base, top} (base/top in kW; |top - base| = |value|),
 * merged where a member's segment continues unchanged.
 */
export function stackSchedules(members, x0, x1) {
  const cuts = new Set([x0, x1]);
  for (const steps of members) {
    for (const s of steps) {
      if (s.start > x0 && s.start < x1) cuts.add(s.start);
      if (s.end > x0 && s.end < x1) cuts.add(s.end);
    }
  }
  const times = [...cuts].sort((a, b) => a - b);
  const open = new Map(); // member -> segment still growing
  const segments = [];
  for (let i = 0; i + 1 < times.length; i += 1) {
    const a = times[i];
    const b = times[i + 1];
    let up = 0;
    let down = 0;
    members.forEach((steps, member) => {
      const value = valueAt(steps, a);
      let segment = null;
      if (value !== null && value !== 0) {
        const base = value > 0 ? up : down;
        const top = base + value;
        if (value > 0) up = top;
        else down = top;
        const last = open.get(member);
        if (last && last.end === a && last.value === value && last.base === base) {
          last.end = b;
          segment = last;
        } else {
          segment = { member, start: a, end: b, value, base, top };
          segments.push(segment);
        }
      }
      open.set(member, segment);
    });
  }
  return segments;
}

/**
 * Round axis bounds and ticks covering [lo, hi] in about `count` steps.
 * A range within float precision of its values counts as flat (padded); the
 * ticks are counted, at most MAX_TICKS, so no values can keep the loop going.
 */
export function niceScale(lo, hi, count = 4) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return niceScale(0, 1, count);
  if (hi - lo < Math.max(1e-9, Math.max(Math.abs(lo), Math.abs(hi)) * 1e-9)) {
    const pad = Math.abs(hi) > 1e-9 ? Math.abs(hi) * 0.1 : 1;
    return niceScale(lo - pad, hi + pad, count);
  }
  const raw = (hi - lo) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const min = Math.floor(lo / step + 1e-9) * step;
  const max = Math.ceil(hi / step - 1e-9) * step;
  const n = Math.min(MAX_TICKS, Math.max(1, Math.round((max - min) / step)));
  const ticks = [];
  for (let i = 0; i <= n; i += 1) {
    const v = min + i * step;
    ticks.push(Math.abs(v) < step / 1e6 ? 0 : v);
  }
  return { min, max, step, ticks };
}

/** Charging above IDLE_KW, discharging below -IDLE_KW, else idle (a power in kW). */
export function powerKind(kw) {
  if (kw > IDLE_KW) return "charge";
  if (kw < -IDLE_KW) return "discharge";
  return "idle";
}

/** The display unit of a power in kW and its factor (W: 1000); kW for one not known. */
export function displayUnit(unit) {
  return unit in PER_KW ? { unit, factor: PER_KW[unit] } : { unit: "kW", factor: 1 };
}

/** The FlexMeasures entities of every device: Map device_id -> {translation key: entity id}. */
export function entityIndex(entities) {
  const index = new Map();
  for (const entry of Object.values(entities || {})) {
    if (entry.platform !== DOMAIN || !entry.device_id || !entry.translation_key) continue;
    let found = index.get(entry.device_id);
    if (!found) index.set(entry.device_id, (found = {}));
    found[entry.translation_key] ??= entry.entity_id;
  }
  return index;
}

/** The FlexMeasures entities of a device, by translation key. */
export function deviceEntities(hass, deviceId) {
  if (!hass || !hass.entities || !deviceId) return {};
  return entityIndex(hass.entities).get(deviceId) || {};
}

/** The first FlexMeasures schedule device (or else site device), for the card picker. */
export function firstScheduleDevice(hass) {
  const entries = Object.values((hass && hass.entities) || {}).filter(
    (e) => e.platform === DOMAIN && e.device_id,
  );
  const pick = (key) => entries.find((e) => e.translation_key === key);
  const entry = pick("power_setpoint") || pick("site_power");
  return entry ? entry.device_id : undefined;
}

// ------------------------------------------------------------------ formatting

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const round = (v) => Math.round(v * 100) / 100;

function numberLocale(hass) {
  const locale = (hass && hass.locale) || {};
  switch (locale.number_format) {
    case "comma_decimal":
      return "en-US";
    case "decimal_comma":
      return "de";
    case "space_comma":
      return "fr";
    case "system":
      return undefined;
    default:
      return locale.language || (hass && hass.language) || undefined;
  }
}

function formatNumber(hass, value, digits = 2) {
  const options = { maximumFractionDigits: digits };
  if (hass && hass.locale && hass.locale.number_format === "none") options.useGrouping = false;
  try {
    return new Intl.NumberFormat(numberLocale(hass), options).format(value);
  } catch (_err) {
    return String(round(value));
  }
}

function timeZone(hass) {
  const locale = (hass && hass.locale) || {};
  return locale.time_zone === "server" && hass.config ? hass.config.time_zone : undefined;
}

function timeFormatter(hass, withDay = false) {
  const locale = (hass && hass.locale) || {};
  const options = { hour: "2-digit", minute: "2-digit", timeZone: timeZone(hass) };
  if (withDay) options.weekday = "short";
  if (locale.time_format === "12") options.hour12 = true;
  else if (locale.time_format === "24") options.hourCycle = "h23";
  try {
    return new Intl.DateTimeFormat(locale.language || (hass && hass.language) || undefined, options);
  } catch (_err) {
    return new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  }
}

/** Hour and minute of t in the card's time zone (for aligning the time axis). */
function hourMinute(formatter, t) {
  let hour = 0;
  let minute = 0;
  for (const part of formatter.formatToParts(t)) {
    if (part.type === "hour") hour = Number.parseInt(part.value, 10) % 24;
    if (part.type === "minute") minute = Number.parseInt(part.value, 10);
  }
  return [hour, minute];
}

const usable = (stateObj) =>
  stateObj && stateObj.state !== "unavailable" && stateObj.state !== "unknown";

function formatState(hass, stateObj) {
  if (typeof hass.formatEntityState === "function") return hass.formatEntityState(stateObj);
  const unit = stateObj.attributes.unit_of_measurement;
  const number = Number.parseFloat(stateObj.state);
  const text = Number.isFinite(number) ? formatNumber(hass, number) : stateObj.state;
  return unit ? `${text} ${unit}` : text;
}

// ------------------------------------------------------------------ the card

const STYLE = `
  :host { display: block; }
  ha-card { padding: 16px 16px 8px; color: var(--primary-text-color); overflow: hidden; }
  .header { display: flex; align-items: baseline; justify-content: space-between; gap: 8px; }
  .name { font-size: var(--ha-card-header-font-size, 1.2em); font-weight: 500; }
  .stale { font-size: 0.85em; color: var(--warning-color, #ffa600); white-space: nowrap; }
  .summary { display: flex; flex-wrap: wrap; align-items: flex-end; gap: 4px 20px; margin: 8px 0 4px; }
  .setpoint { cursor: pointer; line-height: 1; }
  .setpoint .value { font-size: 2.4em; font-weight: 400; }
  .setpoint .unit { font-size: 1.1em; margin-left: 4px; color: var(--secondary-text-color); }
  .mode { font-size: 0.9em; color: var(--secondary-text-color); margin-top: 4px; }
  .fact { font-size: 0.9em; cursor: pointer; }
  .fact .label { display: block; font-size: 0.85em; color: var(--secondary-text-color); }
  .chart { width: 100%; min-height: ${CHART_HEIGHT}px; }
  .chart svg { display: block; width: 100%; height: auto; overflow: visible; }
  .empty { color: var(--secondary-text-color); padding: 24px 0; text-align: center; }
  .legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 0.85em; color: var(--secondary-text-color); padding: 4px 0; }
  .legend span::before { content: ""; display: inline-block; width: 10px; height: 10px; margin-right: 6px;
    border-radius: 2px; background: var(--swatch); vertical-align: -1px; }
  .legend .line::before { height: 3px; vertical-align: 3px; }
  svg text { fill: var(--secondary-text-color); font-size: 11px; font-family: inherit; }
  svg .grid { stroke: var(--divider-color, rgba(127, 127, 127, 0.3)); stroke-width: 1; }
  svg .axis { stroke: var(--secondary-text-color); stroke-width: 1; opacity: 0.6; }
  svg .bar.charge { fill: var(--flexmeasures-charge-color, var(--energy-battery-in-color, #f06292)); }
  svg .bar.discharge { fill: var(--flexmeasures-discharge-color, var(--energy-battery-out-color, #4db6ac)); }
  svg .bar.past { opacity: 0.4; }
  svg .price-step, svg .price-riser { stroke: var(--flexmeasures-price-color, var(--energy-grid-consumption-color, #488fc2));
    stroke-width: 2; stroke-linecap: round; fill: none; }
  svg .now { stroke: var(--primary-color, #03a9f4); stroke-width: 2; stroke-dasharray: 4 3; }
  svg .now-label { fill: var(--primary-color, #03a9f4); font-weight: 500; }
`;

class FlexMeasuresScheduleCard extends HTMLElement {
  constructor() {
    super();
    this._config = {};
    this._hass = undefined;
    this._width = 0;
    this._signature = undefined;
    this._index = undefined; // the entity index, for the hass.entities it was made of
    this._timer = undefined;
    this.drawCount = 0; // how often it drew (a hass update that changes nothing does not)
    this.attachShadow({ mode: "open" });
    this.shadowRoot.innerHTML = `<style>${STYLE}</style>
      <ha-card>
        <div class="header"><div class="name"></div><div class="stale" hidden></div></div>
        <div class="summary"></div>
        <div class="chart"></div>
        <div class="legend"></div>
      </ha-card>`;
    this._els = {
      name: this.shadowRoot.querySelector(".name"),
      stale: this.shadowRoot.querySelector(".stale"),
      summary: this.shadowRoot.querySelector(".summary"),
      chart: this.shadowRoot.querySelector(".chart"),
      legend: this.shadowRoot.querySelector(".legend"),
    };
    this._els.summary.addEventListener("click", (ev) => {
      const target = ev.target.closest("[data-entity]");
      if (target) this._moreInfo(target.dataset.entity);
    });
    this._resize = new ResizeObserver((entries) => {
      const width = Math.round(entries[0].contentRect.width);
      if (width > 0 && width !== this._width) {
        this._width = width;
        this._render(true);
      }
    });
  }

  static getConfigElement() {
    return document.createElement(EDITOR_TYPE);
  }

  static getStubConfig(hass) {
    const deviceId = firstScheduleDevice(hass);
    return deviceId ? { device_id: deviceId } : {};
  }

  setConfig(config) {
    if (!config || typeof config !== "object") throw new Error(text(this._hass, "invalid_config"));
    if (config.hours !== undefined) {
      const hours = Number(config.hours);
      if (!Number.isFinite(hours) || hours <= 0 || hours > MAX_HOURS) {
        throw new Error(text(this._hass, "invalid_hours", { max: MAX_HOURS }));
      }
    }
    this._config = { ...config };
    this._render(true);
  }

  set hass(hass) {
    this._hass = hass;
    this._render(false);
  }

  get hass() {
    return this._hass;
  }

  getCardSize() {
    return 6;
  }

  getGridOptions() {
    return { columns: 12, min_columns: 6, rows: "auto" };
  }

  connectedCallback() {
    this._resize.observe(this._els.chart);
    this._timer = setInterval(() => this._render(true), REDRAW_MS);
    this._render(true);
  }

  disconnectedCallback() {
    this._resize.disconnect();
    clearInterval(this._timer);
    this._timer = undefined;
  }

  _moreInfo(entityId) {
    this.dispatchEvent(new CustomEvent("hass-more-info", { detail: { entityId }, bubbles: true, composed: true }));
  }

  /** The entities of a device; the registry is walked only when hass.entities changed. */
  _entitiesOf(deviceId) {
    const entities = this._hass.entities;
    if (!this._index || this._index.entities !== entities) {
      this._index = { entities, byDevice: entityIndex(entities) };
    }
    return (deviceId && this._index.byDevice.get(deviceId)) || {};
  }

  /** What the drawing depends on; a hass update that changes none of it is ignored. */
  _inputs() {
    const hass = this._hass;
    const ids = { ...this._entitiesOf(this._config.device_id) };
    const sitePower = ids.site_power && hass.states[ids.site_power];
    const members = ids.power_setpoint
      ? []
      : ((sitePower && Array.isArray(sitePower.attributes.devices) && sitePower.attributes.devices) || []);
    if (!ids.consumption_price) {
      // a site shows the price its devices share (they show the site's)
      for (const id of members) {
        const entry = hass.entities && hass.entities[id];
        const price = entry && this._entitiesOf(entry.device_id).consumption_price;
        if (price) {
          ids.consumption_price = price;
          break;
        }
      }
    }
    const watched = [
      ids.power_setpoint,
      ids.site_power,
      ids.consumption_price,
      ids.planned_cost,
      ids.next_change,
      ids.stale,
      ...members,
    ].map((id) => id && hass.states[id]);
    return { ids, members, watched };
  }

  _render(force) {
    const hass = this._hass;
    if (!hass || !this.isConnected) return;
    const inputs = this._inputs();
    const signature = [this._config, hass.entities, hass.locale, ...inputs.watched];
    if (
      !force &&
      this._signature &&
      signature.length === this._signature.length &&
      signature.every((v, i) => v === this._signature[i])
    ) {
      return;
    }
    this._signature = signature;
    this.drawCount += 1;
    try {
      this._draw(inputs);
    } catch (err) {
      this._els.chart.innerHTML = `<div class="empty">${escapeHtml(err.message)}</div>`;
    }
  }

  _draw({ ids, members }) {
    const hass = this._hass;
    const config = this._config;
    const els = this._els;
    const device = hass.devices && config.device_id ? hass.devices[config.device_id] : undefined;
    els.name.textContent = config.title || (device && (device.name_by_user || device.name)) || text(hass, "card_name");

    const powerId = ids.power_setpoint || ids.site_power;
    if (!config.device_id || !powerId) {
      els.stale.hidden = true;
      els.summary.innerHTML = "";
      els.legend.innerHTML = "";
      els.chart.innerHTML = `<div class="empty">${escapeHtml(
        text(hass, config.device_id ? "no_schedule_on_device" : "pick_device"),
      )}</div>`;
      return;
    }
    const power = hass.states[powerId];
    const stale = ids.stale && hass.states[ids.stale];
    els.stale.hidden = !(stale && stale.state === "on");
    els.stale.textContent = text(hass, "not_updated");
    els.stale.title = text(hass, "not_updated_title");

    const sign = power && power.attributes.sign_convention === "production_positive" ? -1 : 1;
    const toSteps = (stateObj) =>
      parseSteps(stateObj && stateObj.attributes.schedule).map((s) => ({ ...s, value: sign * s.value }));
    const steps = toSteps(power);
    const now = Date.now();
    const hours = Number(config.hours) || DEFAULT_HOURS;
    const span = hours * 3_600_000;
    const x0 = now - Math.max(15 * 60_000, span / 24);
    const x1 = now + span;

    this._drawSummary({ ids, power, steps, now });

    const price = ids.consumption_price && hass.states[ids.consumption_price];
    const priceSteps = usable(price) ? stepsIn(parseSteps(price.attributes.forecast), x0, x1) : [];
    const priceUnit = price ? price.attributes.unit_of_measurement || "" : "";

    let memberSteps = [];
    let memberNames = [];
    if (members.length) {
      const present = members.filter((id) => hass.states[id]);
      memberSteps = present.map((id) => toSteps(hass.states[id]));
      memberNames = present.map((id) => {
        const entry = hass.entities[id];
        const dev = entry && entry.device_id && hass.devices ? hass.devices[entry.device_id] : undefined;
        return (dev && (dev.name_by_user || dev.name)) || hass.states[id].attributes.friendly_name || id;
      });
      if (!memberSteps.some((s) => s.length)) {
        memberSteps = [];
        memberNames = [];
      }
    }
    const { unit, factor } = displayUnit(power && power.attributes.unit_of_measurement);
    els.chart.innerHTML = this._chartSvg({
      steps: stepsIn(steps, x0, x1),
      memberSteps,
      memberIds: members.filter((id) => hass.states[id]),
      priceSteps,
      priceUnit,
      unit,
      factor,
      now,
      x0,
      x1,
    });
    const legend = [];
    if (memberSteps.length) {
      memberNames.forEach((name, i) =>
        legend.push(`<span style="--swatch: ${MEMBER_COLORS[i % MEMBER_COLORS.length]}">${escapeHtml(name)}</span>`),
      );
    } else {
      legend.push(
        `<span class="charge" style="--swatch: var(--flexmeasures-charge-color, var(--energy-battery-in-color, #f06292))">${escapeHtml(text(hass, "charging"))}</span>`,
        `<span class="discharge" style="--swatch: var(--flexmeasures-discharge-color, var(--energy-battery-out-color, #4db6ac))">${escapeHtml(text(hass, "discharging"))}</span>`,
      );
    }
    if (priceSteps.length) {
      legend.push(
        `<span class="line" style="--swatch: var(--flexmeasures-price-color, var(--energy-grid-consumption-color, #488fc2))">${escapeHtml(text(hass, "price_unit", { unit: priceUnit }))}</span>`,
      );
    }
    els.legend.innerHTML = legend.join("");
  }

  _drawSummary({ ids, power, steps, now }) {
    const hass = this._hass;
    const parts = [];
    if (usable(power)) {
      const value = Number.parseFloat(power.state);
      const entry = (hass.entities && hass.entities[power.entity_id]) || {};
      const digits = Number.isInteger(entry.display_precision) ? entry.display_precision : 2;
      const unit = power.attributes.unit_of_measurement || "kW";
      // the state is in its display unit; the threshold is the integration's, in kW
      const kind = powerKind(value / displayUnit(unit).factor);
      const mode = text(hass, { charge: "charging_now", discharge: "discharging_now", idle: "idle_now" }[kind]);
      parts.push(`<div class="setpoint" data-entity="${escapeHtml(power.entity_id)}" data-value="${escapeHtml(power.state)}">
          <span class="value">${escapeHtml(formatNumber(hass, value, digits))}</span><span class="unit">${escapeHtml(unit)}</span>
          <div class="mode">${escapeHtml(mode)}</div></div>`);
    } else {
      parts.push(`<div class="setpoint" data-entity="${escapeHtml(power ? power.entity_id : "")}">
          <span class="value">–</span><div class="mode">${escapeHtml(text(hass, "no_schedule_now"))}</div></div>`);
    }
    const next = ids.next_change && hass.states[ids.next_change];
    if (usable(next)) {
      const at = Date.parse(next.state);
      if (Number.isFinite(at)) {
        const withDay = at - now > 20 * 3_600_000;
        const then = valueAt(steps, at); // kW, as the attribute
        const { unit, factor } = displayUnit(power && power.attributes.unit_of_measurement);
        const to = then === null ? text(hass, "end_of_plan") : `${formatNumber(hass, then * factor)} ${unit}`;
        parts.push(`<div class="fact next-change" data-entity="${escapeHtml(next.entity_id)}" data-value="${escapeHtml(next.state)}">
            <span class="label">${escapeHtml(text(hass, "next_change"))}</span>${escapeHtml(timeFormatter(hass, withDay).format(at))} → ${escapeHtml(to)}</div>`);
      }
    }
    const price = ids.consumption_price && hass.states[ids.consumption_price];
    if (usable(price)) {
      parts.push(`<div class="fact price-now" data-entity="${escapeHtml(price.entity_id)}" data-value="${escapeHtml(price.state)}">
          <span class="label">${escapeHtml(text(hass, "price_now"))}</span>${escapeHtml(formatState(hass, price))}</div>`);
    }
    const cost = ids.planned_cost && hass.states[ids.planned_cost];
    if (usable(cost)) {
      parts.push(`<div class="fact planned-cost" data-entity="${escapeHtml(cost.entity_id)}" data-value="${escapeHtml(cost.state)}">
          <span class="label">${escapeHtml(text(hass, "planned_cost"))}</span>${escapeHtml(formatState(hass, cost))}</div>`);
    }
    this._els.summary.innerHTML = parts.join("");
  }

  _chartSvg({ steps, memberSteps, memberIds, priceSteps, priceUnit, unit, factor, now, x0, x1 }) {
    const hass = this._hass;
    const width = Math.max(MIN_WIDTH, this._width || this._els.chart.clientWidth || 400);
    const height = CHART_HEIGHT;
    const hasPrice = priceSteps.length > 0;
    const m = { left: 44, right: hasPrice ? 48 : 12, top: 18, bottom: 22 };
    const plotW = width - m.left - m.right;
    const plotH = height - m.top - m.bottom;
    const stacked = memberSteps.length ? stackSchedules(memberSteps, x0, x1) : null;
    if (!steps.length && !(stacked && stacked.length)) {
      const hours = formatNumber(hass, (x1 - now) / 3_600_000, 0);
      return `<div class="empty">${escapeHtml(text(hass, "no_planned_power", { hours }))}</div>`;
    }

    // power axis (left), including 0
    let lo = 0;
    let hi = 0;
    for (const s of stacked || steps) {
      const a = stacked ? s.base : 0;
      const b = stacked ? s.top : s.value;
      lo = Math.min(lo, a, b);
      hi = Math.max(hi, a, b);
    }
    const ps = niceScale(lo, hi, plotH < 160 ? 3 : 4);
    const x = (t) => m.left + ((Math.min(Math.max(t, x0), x1) - x0) / (x1 - x0)) * plotW;
    const y = (v) => m.top + ((ps.max - v) / (ps.max - ps.min)) * plotH;
    const f = (v) => v.toFixed(1);
    const out = [];
    out.push(
      `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(text(hass, "chart_label"))}" data-x0="${new Date(x0).toISOString()}" data-x1="${new Date(x1).toISOString()}" data-zero-y="${f(y(0))}" data-plot="${m.left} ${m.top} ${plotW} ${plotH}">`,
    );

    // grid and axes
    for (const v of ps.ticks) {
      out.push(`<line class="grid" x1="${m.left}" x2="${m.left + plotW}" y1="${f(y(v))}" y2="${f(y(v))}"/>`);
      out.push(`<text x="${m.left - 6}" y="${f(y(v) + 4)}" text-anchor="end">${escapeHtml(formatNumber(hass, v * factor))}</text>`);
    }
    out.push(`<text x="${m.left - 6}" y="${m.top - 6}" text-anchor="end">${escapeHtml(unit)}</text>`);
    const formatter = timeFormatter(hass);
    const perHour = plotW / ((x1 - x0) / 3_600_000);
    const every = TICK_HOURS.find((h) => h * perHour >= 56) || 48;
    for (let t = Math.ceil(x0 / 900_000) * 900_000; t <= x1; t += 900_000) {
      const [hour, minute] = hourMinute(formatter, t);
      if (minute !== 0 || hour % Math.min(every, 24) !== 0) continue;
      if (every > 24 && Math.round(t / 3_600_000) % every !== 0) continue;
      const tx = x(t);
      out.push(`<line class="grid" x1="${f(tx)}" x2="${f(tx)}" y1="${m.top}" y2="${m.top + plotH}"/>`);
      out.push(`<text class="time" x="${f(tx)}" y="${height - 6}" text-anchor="middle">${escapeHtml(formatter.format(t))}</text>`);
    }

    // planned power: bars from 0 (one per schedule step), or stacked per member
    const bar = (cls, start, end, from, to, attrs, label) => {
      const top = Math.min(y(from), y(to));
      const h = Math.abs(y(from) - y(to));
      const past = end <= now ? " past" : "";
      return `<rect class="bar ${cls}${past}" x="${f(x(start))}" y="${f(top)}" width="${f(Math.max(0, x(end) - x(start)))}" height="${f(h)}" ${attrs}><title>${escapeHtml(label)}</title></rect>`;
    };
    const span = (s, value) =>
      `${formatter.format(s.start)}–${formatter.format(s.end)}: ${formatNumber(hass, value * factor)} ${unit}`;
    if (stacked) {
      for (const s of stacked) {
        const color = MEMBER_COLORS[s.member % MEMBER_COLORS.length];
        const cls = `${powerKind(s.value)} member`;
        const attrs = `style="fill: ${color}" data-member="${escapeHtml(memberIds[s.member])}" data-start="${new Date(s.start).toISOString()}" data-end="${new Date(s.end).toISOString()}" data-value="${s.value}" data-base="${round(s.base)}"`;
        out.push(bar(cls, s.start, s.end, s.base, s.top, attrs, span(s, s.value)));
      }
    } else {
      for (const s of steps) {
        const cls = powerKind(s.value);
        const attrs = `data-start="${escapeHtml(s.iso)}" data-end="${new Date(s.end).toISOString()}" data-value="${s.value}"`;
        out.push(bar(cls, s.start, s.end, 0, s.value, attrs, span(s, s.value)));
      }
    }
    out.push(`<line class="axis zero" x1="${m.left}" x2="${m.left + plotW}" y1="${f(y(0))}" y2="${f(y(0))}"/>`);

    // price: a step line on the right axis
    if (hasPrice) {
      let plo = Infinity;
      let phi = -Infinity;
      for (const s of priceSteps) {
        plo = Math.min(plo, s.value);
        phi = Math.max(phi, s.value);
      }
      const pr = niceScale(plo, phi, ps.ticks.length - 1);
      const yp = (v) => m.top + ((pr.max - v) / (pr.max - pr.min)) * plotH;
      for (const v of pr.ticks) {
        out.push(`<text class="price-tick" x="${m.left + plotW + 6}" y="${f(yp(v) + 4)}" text-anchor="start">${escapeHtml(formatNumber(hass, v, 3))}</text>`);
      }
      out.push(`<text x="${m.left + plotW + 6}" y="${m.top - 6}" text-anchor="start">${escapeHtml(priceUnit)}</text>`);
      let previous = null;
      for (const s of priceSteps) {
        if (previous && previous.end === s.start) {
          out.push(`<line class="price-riser" x1="${f(x(s.start))}" x2="${f(x(s.start))}" y1="${f(yp(previous.value))}" y2="${f(yp(s.value))}"/>`);
        }
        out.push(
          `<line class="price-step" x1="${f(x(s.start))}" x2="${f(x(s.end))}" y1="${f(yp(s.value))}" y2="${f(yp(s.value))}" data-start="${escapeHtml(s.iso)}" data-value="${s.value}"><title>${escapeHtml(`${formatter.format(s.start)}–${formatter.format(s.end)}: ${formatNumber(hass, s.value, 4)} ${priceUnit}`)}</title></line>`,
        );
        previous = s;
      }
    }

    // now
    const nx = f(x(now));
    out.push(`<line class="now" x1="${nx}" x2="${nx}" y1="${m.top - 2}" y2="${m.top + plotH}" data-time="${new Date(now).toISOString()}"/>`);
    const nearRight = x(now) > m.left + plotW - 30;
    out.push(
      `<text class="now-label" x="${f(x(now) + (nearRight ? -4 : 4))}" y="${m.top - 6}" text-anchor="${nearRight ? "end" : "start"}">${escapeHtml(text(hass, "now"))}</text>`,
    );
    out.push("</svg>");
    return out.join("");
  }
}

// ------------------------------------------------------------------ the visual editor

const SCHEMA = [
  {
    name: "device_id",
    required: true,
    selector: {
      device: {
        filter: [{ integration: DOMAIN }],
        // schedule and site devices have a power sensor (accounts and measurements do not)
        entity: [{ integration: DOMAIN, domain: "sensor", device_class: "power" }],
      },
    },
  },
  { name: "title", selector: { text: {} } },
  { name: "hours", selector: { number: { min: 1, max: MAX_HOURS, step: 1, mode: "box", unit_of_measurement: "h" } } },
];
const LABELS = { device_id: "editor_device", title: "editor_title", hours: "editor_hours" };

/** ha-form is the frontend's own; load it when the editor opens before anything else did. */
async function ensureHaForm() {
  if (customElements.get("ha-form") || !window.loadCardHelpers) return;
  const helpers = await window.loadCardHelpers();
  const card = await helpers.createCardElement({ type: "entities", entities: [] });
  if (card && card.constructor.getConfigElement) await card.constructor.getConfigElement();
}

class FlexMeasuresScheduleCardEditor extends HTMLElement {
  constructor() {
    super();
    this._config = {};
    this._hass = undefined;
    this._form = undefined;
  }

  setConfig(config) {
    this._config = { ...config };
    this._render();
  }

  set hass(hass) {
    this._hass = hass;
    this._render();
  }

  connectedCallback() {
    ensureHaForm().then(() => this._render());
  }

  _render() {
    if (!this._hass) return;
    if (!this._form) {
      this._form = document.createElement("ha-form");
      this._form.computeLabel = (schema) =>
        LABELS[schema.name] ? text(this._hass, LABELS[schema.name], { hours: DEFAULT_HOURS }) : schema.name;
      this._form.addEventListener("value-changed", (ev) => {
        ev.stopPropagation();
        const config = { ...this._config, ...ev.detail.value };
        for (const key of ["title", "hours"]) {
          if (config[key] === "" || config[key] === undefined || config[key] === null) delete config[key];
        }
        this._config = config;
        this.dispatchEvent(new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }));
      });
      this.appendChild(this._form);
    }
    this._form.hass = this._hass;
    this._form.data = this._config;
    this._form.schema = SCHEMA;
  }
}

if (!customElements.get(CARD_TYPE)) customElements.define(CARD_TYPE, FlexMeasuresScheduleCard);
if (!customElements.get(EDITOR_TYPE)) customElements.define(EDITOR_TYPE, FlexMeasuresScheduleCardEditor);

window.customCards = window.customCards || [];
if (!window.customCards.some((card) => card.type === CARD_TYPE)) {
  window.customCards.push({
    type: CARD_TYPE,
    // read when the picker shows, in the page's language by then
    get name() {
      return text(document.querySelector("home-assistant")?.hass, "card_name");
    },
    get description() {
      return text(document.querySelector("home-assistant")?.hass, "card_description");
    },
    preview: true,
    documentationURL: "https://github.com/flexmeasures-ha/flexmeasures-ha#the-schedule-card",
  });
}
