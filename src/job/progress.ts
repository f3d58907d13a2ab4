import type { Clock } from '../core/clock.js';
import type { JobOutput, JobSummary } from './types.js';

/**
 * The counts a progress line shows.
 *
 * @example
 * ```ts
 * const counts: ProgressCounts = { done: 40, total: 100, skipped: 0, failed: 1, retries: 2, throttles: 3, elapsedMs: 4000 };
 * ```
 */
export interface ProgressCounts {
  /** Items finished (processed, skipped or dead-lettered). */
  readonly done: number;
  readonly total: number | undefined;
  /** Of `done`, those skipped as done by an earlier run (left out of the rate). */
  readonly skipped: number;
  readonly failed: number;
  /** Job retries plus the client's retries. */
  readonly retries: number;
  /** The client's 429 and 409 responses. */
  readonly throttles: number;
  readonly elapsedMs: number;
  /**
   * Items per second over the last seconds of work (skipped items left out), when known: the rate and ETA
   * use it rather than the average since start, which a first burst (a rate limit's burst allowance, say)
   * makes far too optimistic.
   */
  readonly recentRate?: number;
}

/** `1m05s`, `42s`, `1h02m`: short, for an ETA. */
export function shortDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Items per second of work done in this run: lately when known, else on average (skipped items left out). */
const rateOf = (c: ProgressCounts) =>
  c.recentRate ?? (c.elapsedMs > 0 ? ((c.done - c.skipped) * 1000) / c.elapsedMs : 0);

function eta(c: ProgressCounts): string {
  const rate = rateOf(c);
  if (c.total === undefined) return '?';
  if (c.done >= c.total) return '0s';
  return rate > 0 ? shortDuration(((c.total - c.done) / rate) * 1000) : '?';
}

/**
 * The one-line bar for a terminal: `name [████░░░░] 40/100 40% 12.5/s ETA 5s  throttles 3  retries 2  dead 1`.
 *
 * @example
 * ```ts
 * progressBar('sync', { done: 40, total: 100, skipped: 0, failed: 1, retries: 2, throttles: 3, elapsedMs: 3200 });
 * ```
 */
export function progressBar(name: string, c: ProgressCounts, width = 20): string {
  const fraction = c.total ? Math.min(1, c.done / c.total) : 0;
  const filled = Math.round(fraction * width);
  const bar =
    c.total === undefined || width <= 0 ? '' : `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] `;
  const count = c.total === undefined ? `${c.done}` : `${c.done}/${c.total} ${Math.floor(fraction * 100)}%`;
  return (
    `${name} ${bar}${count} ${rateOf(c).toFixed(1)}/s ETA ${eta(c)}` +
    `  throttles ${c.throttles}  retries ${c.retries}  dead ${c.failed}`
  );
}

/**
 * The periodic log line when the output is not a terminal.
 *
 * @example
 * ```ts
 * progressLine('sync', counts); // 'sync: 40/100 done (40%), 12.5 items/s, ETA 5s, 3 throttles, 2 retries, 1 dead-lettered'
 * ```
 */
export function progressLine(name: string, c: ProgressCounts): string {
  const count =
    c.total === undefined
      ? `${c.done}`
      : `${c.done}/${c.total} done (${Math.floor((c.done / (c.total || 1)) * 100)}%)`;
  return (
    `${name}: ${count}, ${rateOf(c).toFixed(1)} items/s, ETA ${eta(c)}, ` +
    `${c.throttles} throttles, ${c.retries} retries, ${c.failed} dead-lettered`
  );
}

/**
 * The final summary, human text: one line, then the dead letters (at most 10).
 *
 * @example
 * ```ts
 * output.write(summaryText(summary));
 * ```
 */
export function summaryText(s: JobSummary): string {
  const lines = [
    `${s.name} ${s.state}: ${s.processed} processed, ${s.skipped} skipped (done before), ` +
      `${s.failed} dead-lettered, ${s.retries} retries in ${(s.durationMs / 1000).toFixed(1)}s ` +
      `(${s.itemsPerSecond.toFixed(1)} items/s)${s.error === undefined ? '' : ` — ${s.error.message}`}`,
  ];
  for (const letter of s.deadLetters.slice(0, 10))
    lines.push(`  dead letter ${letter.id} after ${letter.attempts} attempt(s): ${letter.error}`);
  if (s.deadLetters.length > 10) lines.push(`  … and ${s.deadLetters.length - 10} more in the checkpoint`);
  return `${lines.join('\n')}\n`;
}

/** The narrowest bar worth drawing: below it the bar is dropped. */
const MIN_BAR_CELLS = 5;

/**
 * {@link progressBar} fitted to `columns`: the bar's cells shrink first, then the bar goes, and only then is
 * the line cut (so the counts at its end — `dead N` — stay as long as they can).
 *
 * @example
 * ```ts
 * fitBar('sync', counts, 60); // 'sync [███░░░░] 40/100 40% 12.5/s ETA 5s  throttles 3  retries 2  dead 1'
 * ```
 */
export function fitBar(name: string, c: ProgressCounts, columns: number): string {
  const full = progressBar(name, c);
  const over = [...full].length - columns;
  if (over <= 0) return full;
  const cells = 20 - over;
  return fitWidth(progressBar(name, c, cells >= MIN_BAR_CELLS ? cells : 0), columns);
}

/** `text` cut to `width` characters (code points), with `…` at the end when cut. */
export function fitWidth(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  return width <= 0 ? '' : `${chars.slice(0, width - 1).join('')}…`;
}

/** Redraws at most this often on a terminal. */
const TTY_REDRAW_MS = 100;

/**
 * Writes progress to `output`: on a TTY a bar redrawn in place at most ~10 times a second, cut to the
 * terminal's width less one (`output.columns`, else 80) so that it never wraps (`\r\x1b[2K` clears one
 * line only; the bar shrinks before the counts are cut); otherwise a start line at once (`<name>: started`,
 * or `<name>: resuming from N confirmed, M dead letters`) then a line every `intervalMs`. `counts` is read at each tick, and `onTick` called;
 * `tick` is called by the job on every change and by a timer, so that a long item still gives lines.
 *
 * @example
 * ```ts
 * const progress = createProgress({ name: 'sync', output: process.stderr, clock: Date.now, intervalMs: 10_000, counts });
 * progress.tick();
 * progress.finish(summary);
 * ```
 */
export function createProgress(options: {
  readonly name: string;
  readonly output: JobOutput | undefined;
  readonly clock: Clock;
  readonly intervalMs: number;
  readonly counts: () => ProgressCounts;
  readonly onTick?: () => void;
  /** What an interrupted run left, when this run resumes it (for the start line). */
  readonly resumed?: { readonly confirmed: number; readonly deadLetters: number } | undefined;
}) {
  const { name, output, clock, intervalMs, counts, onTick, resumed } = options;
  const tty = output?.isTTY === true;
  // Not a TTY (a cron log): a line at once, so the log shows the run began before the first interval.
  if (!tty)
    output?.write(
      resumed === undefined
        ? `${name}: started\n`
        : `${name}: resuming from ${resumed.confirmed} confirmed, ${resumed.deadLetters} dead letters\n`,
    );
  const every = tty ? TTY_REDRAW_MS : intervalMs;
  let last = clock();
  let drawn = false;
  const draw = () => {
    if (output === undefined) return;
    if (tty) {
      const width = (output.columns !== undefined && output.columns > 0 ? output.columns : 80) - 1;
      output.write(`\r\x1b[2K${fitBar(name, counts(), width)}`);
      drawn = true;
    } else output.write(`${progressLine(name, counts())}\n`);
  };
  const timer = setInterval(() => tick(), Math.min(every, 1000));
  timer.unref?.();
  function tick(): void {
    const now = clock();
    if (now - last < every) return;
    last = now;
    draw();
    onTick?.();
  }
  return {
    tick,
    /** Stops the timer, draws the last state and writes the summary. */
    finish(summary: JobSummary): void {
      clearInterval(timer);
      draw();
      if (output === undefined) return;
      if (tty && drawn) output.write('\n');
      output.write(summaryText(summary));
    },
  };
}
