// Node's Buffer has had latin1Slice for a decade (undici and Node's own http use it); it skips the
// argument checks of toString('latin1', ...) on the header hot path. @types/node does not list it.
declare global {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
  }
}
export {};
