// Node's Buffer has had latin1Slice for a decade (undici and Node's own http use it); it skips the
// argument checks of toString('latin1', ...) on the header hot path, as latin1Write skips those of
// write(string, offset, 'latin1'). @types/node lists neither.
declare global {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
    /** Writes one byte per char at `offset` (chars above 0xFF are truncated); returns the bytes written. */
    latin1Write(string: string, offset: number): number;
  }
}
export {};
