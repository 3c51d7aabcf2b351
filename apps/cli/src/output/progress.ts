/**
 * Progress of a group run on stderr (a status line rewritten in place on a TTY).
 */
import type { Colors } from './colors.js';

/**
 * Progress of a group run on stderr: a status line rewritten in place on a TTY; nothing
 * extra otherwise (the per-host lines and the summary say it all).
 */
export class Progress {
  private done = 0;
  private total = 0;
  private batch = '';
  private shown = false;
  private bytesText = '';
  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly colors: Colors,
    private readonly enabled: boolean,
  ) {}

  start(total: number): void {
    this.total = total;
    this.done = 0;
    this.render();
  }
  onBatch(index: number, size: number): void {
    this.batch = `batch ${index + 1} (${size} hosts) `;
    this.render();
  }
  /** Bytes transferred so far across hosts (shown after the host count). */
  bytes(sent: number, total: number): void {
    const mib = (n: number): string => (n / 2 ** 20).toFixed(1);
    this.bytesText = ` ${mib(sent)}/${mib(total)} MiB`;
    this.render();
  }
  hostDone(): void {
    this.done++;
    this.render();
  }
  /** Clears the status line before other output is written. */
  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[2K');
    this.shown = false;
  }
  render(): void {
    if (!this.enabled || this.total === 0) return;
    const width = 20;
    const filled = Math.round((this.done / this.total) * width);
    this.stream.write(`\r\x1b[2K${this.colors.dim(`${this.batch}[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} hosts${this.bytesText}`)}`);
    this.shown = true;
  }
  finish(): void {
    this.clear();
  }
}
