/**
 * A progress bar for long loops (extraction batches, downloads), on top of cli-progress.
 *
 * Live bar with rate and ETA on an interactive stderr; when stderr is not a TTY (CI logs, pipes) there is no
 * bar but one plain line per tenth of the work and a summary line at the end, so a log shows the run is alive
 * and stays readable. Work found already done (`skip`, e.g. cached batches) counts towards the amount but not
 * the rate, so a resumed run does not report an impossible throughput. LATENT_ATLAS_QUIET=1 or
 * `enabled: false` silences it completely.
 */
import cliProgress from 'cli-progress';

export interface ProgressOptions {
  /** Number of units expected; 0 or unknown totals still work (no ETA shown). */
  total: number;
  label: string;
  /** Unit name shown in the rate, e.g. 'tok', 'batch'. 'B' formats values as KiB/MiB/GiB. Default 'it'. */
  unit?: string;
  /** false: print nothing. Default: live bar when the stream is a TTY, else a summary line at the end. */
  enabled?: boolean;
  /** Where to write. Default process.stderr (tests pass their own). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface Progress {
  /** Adds n units (default 1); `extra` is shown after the bar as key=value (e.g. the current layer). */
  tick(n?: number, extra?: Record<string, string | number>): void;
  /** Adds n units that were already done (cached): shown in the amount, left out of the rate. */
  skip(n?: number): void;
  /** Stops the bar (or prints the summary line). Idempotent. */
  done(): void;
}

/** 'texts' / 'text' → the right number for value ('1 text', '20 texts'); abbreviations ('tok', 'it') stay. */
function unitFor(value: number, unit: string): string {
  if (['tok', 'it', 'B'].includes(unit)) return unit;
  const singular = unit.endsWith('s') ? unit.slice(0, -1) : unit;
  return value === 1 ? singular : `${singular}s`;
}

export function formatAmount(value: number, unit: string): string {
  if (unit !== 'B') return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unitFor(value, unit)}`;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = value;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(sec).padStart(2, '0')}s`;
}

function rateText(value: number, seconds: number, unit: string): string {
  const per = unit === 'B' ? '' : unitFor(2, unit);
  if (!(seconds > 0)) return `? ${per || unit}/s`;
  return unit === 'B' ? `${formatAmount(value / seconds, unit)}/s` : `${formatAmount(value / seconds, 'it').replace(/ it$/, '')} ${per}/s`;
}

export function progress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const unit = opts.unit ?? 'it';
  const quiet = process.env.LATENT_ATLAS_QUIET === '1' || opts.enabled === false;
  const live = !quiet && stream.isTTY === true;
  const start = performance.now();
  let value = 0;
  let skipped = 0;
  let lastTenth = 0;
  let finished = false;
  let extraText = '';

  let bar: cliProgress.SingleBar | undefined;
  if (live) {
    bar = new cliProgress.SingleBar({
      stream,
      hideCursor: false,
      clearOnComplete: false,
      stopOnComplete: false,
      etaBuffer: 50,
      format: (options, params) => {
        const seconds = (Date.now() - params.startTime) / 1000;
        const computed = params.value - skipped;
        const total = params.total;
        const bar = total > 0 && options.barsize ? renderBar(params.progress, options.barsize) : '';
        const eta = total > 0 && computed > 0 ? ` eta ${formatDuration((seconds / computed) * (total - params.value))}` : '';
        const amount = total > 0 ? `${formatAmount(params.value, unit)}/${formatAmount(total, unit)}` : formatAmount(params.value, unit);
        return `${opts.label} ${bar} ${amount} ${rateText(computed, seconds, unit)}${eta}${extraText}`;
      },
    });
    bar.start(Math.max(0, opts.total), 0);
  }

  const plainLine = () => {
    // Not a terminal: one line per tenth of the total instead of a redrawn bar.
    if (live || quiet || !(opts.total > 0)) return;
    const tenth = Math.floor((10 * value) / opts.total);
    if (tenth <= lastTenth || value >= opts.total) return;
    lastTenth = tenth;
    const seconds = (performance.now() - start) / 1000;
    stream.write(`${opts.label}: ${formatAmount(value, unit)} of ${formatAmount(opts.total, unit)} (${Math.round((100 * value) / opts.total)}%, ${rateText(value - skipped, seconds, unit)})${extraText}\n`);
  };
  return {
    tick(n = 1, extra) {
      if (finished) return;
      value += n;
      if (extra) extraText = ' ' + Object.entries(extra).map(([k, v]) => `${k}=${v}`).join(' ');
      bar?.update(value);
      plainLine();
    },
    skip(n = 1) {
      if (finished) return;
      value += n;
      skipped += n;
      bar?.update(value);
    },
    done() {
      if (finished) return;
      finished = true;
      if (bar) {
        bar.update(value);
        bar.stop();
      } else if (!quiet) {
        const seconds = (performance.now() - start) / 1000;
        const cached = skipped ? `, ${formatAmount(skipped, unit)} already cached` : '';
        stream.write(`${opts.label}: ${formatAmount(value, unit)} in ${formatDuration(seconds)} (${rateText(value - skipped, seconds, unit)}${cached})\n`);
      }
    },
  };
}

function renderBar(fraction: number, size: number): string {
  const filled = Math.max(0, Math.min(size, Math.round(fraction * size)));
  return '█'.repeat(filled) + '░'.repeat(size - filled);
}
